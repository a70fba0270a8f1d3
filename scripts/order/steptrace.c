// Single-step a program (and its clones, until they exec) and print every
// distinct instruction offset executed inside the mapping of argv[1]'s file:
//   steptrace PROGRAM ARGS... > offsets
// Stops when PROGRAM exits; clones still running (a created container's init
// waiting for `start`) are then released untraced. PROGRAM's stdout goes to
// stderr. Used by gen.sh only.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sys/user.h>
static unsigned char *seen; static size_t seen_len;
static unsigned long base; static int role[1<<22];
static unsigned long find_base(pid_t p, const char *exe){
  char path[64], line[512]; snprintf(path,sizeof path,"/proc/%d/maps",p);
  FILE*f=fopen(path,"r"); unsigned long lo=0; 
  while(fgets(line,sizeof line,f)){ unsigned long a,b,off; char perm[8];
    if(sscanf(line,"%lx-%lx %7s %lx",&a,&b,perm,&off)==4 && strstr(line,exe) && off==0){lo=a;break;} }
  fclose(f); return lo;
}
int main(int argc,char**argv){
  const char*exe=argv[1]; seen_len=64<<20; seen=calloc(seen_len,1);
  pid_t c=fork();
  if(!c){ dup2(2,1); ptrace(PTRACE_TRACEME,0,0,0); raise(SIGSTOP); execv(exe,argv+1); _exit(127);}  
  int st; waitpid(c,&st,0);
  ptrace(PTRACE_SETOPTIONS,c,0,PTRACE_O_TRACECLONE|PTRACE_O_TRACEFORK|PTRACE_O_TRACEVFORK|PTRACE_O_TRACEEXEC);
  ptrace(PTRACE_CONT,c,0,0);
  int execd_main=0; long steps=0;
  for(;;){
    pid_t p=waitpid(-1,&st,__WALL); if(p<0) break;
    if(WIFEXITED(st)||WIFSIGNALED(st)){ if(p==c) break; continue; }
    int sig=WSTOPSIG(st), ev=st>>16, pass=0;
    if(ev==PTRACE_EVENT_EXEC){
      if(p==c && !execd_main){ execd_main=1; base=find_base(p,exe); role[p%(1<<22)]=1; }
      else { ptrace(PTRACE_DETACH,p,0,0); continue; }   // a clone exec'd the container process
    } else if(ev){ /* clone event: new child will stop itself */ }
    else if(sig==SIGTRAP){ }
    else if(sig==SIGSTOP && role[p%(1<<22)]==0 && p!=c){ role[p%(1<<22)]=2; }
    else pass=sig;
    if(execd_main && role[p%(1<<22)]){
      struct user_regs_struct r; ptrace(PTRACE_GETREGS,p,0,&r);
      unsigned long off=r.rip-base; if(off<seen_len) seen[off]|=role[p%(1<<22)];
      steps++;
      ptrace(PTRACE_SINGLESTEP,p,0,pass);
    } else ptrace(PTRACE_CONT,p,0,pass);
  }
  fprintf(stderr,"steps %ld base %lx\n",steps,base);
  for(size_t i=0;i<seen_len;i++) if(seen[i]) printf("%zx %d\n",i,seen[i]);
  return 0;
}
