//! Statistics, shaped like the `data` object of runc's `events --stats` (runc's
//! `types.Stats`): same JSON field names, same units (nanoseconds, bytes).

use std::collections::BTreeMap;

use serde::Serialize;

/// `runc events --stats` "data".
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// CPU usage and throttling.
    pub cpu: Cpu,
    /// Memory usage.
    pub memory: Memory,
    /// Process counts.
    pub pids: Pids,
    /// Block I/O.
    pub blkio: Blkio,
    /// Per page size ("2MB", "1GB").
    pub hugetlb: BTreeMap<String, Hugetlb>,
}

/// CPU statistics.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Cpu {
    /// Usage.
    pub usage: CpuUsage,
    /// CFS throttling.
    pub throttling: Throttling,
}

/// CPU time, nanoseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CpuUsage {
    /// Total.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Per CPU (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Kernel mode.
    pub kernel: u64,
    /// User mode.
    pub user: u64,
}

/// CFS throttling.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Throttling {
    /// Enforcement periods.
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods that were throttled.
    #[serde(rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Time throttled, ns.
    #[serde(rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// Memory statistics.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Memory {
    /// Page cache ("cache" on v1, "file" on v2).
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory + swap (v1 memsw semantics).
    pub swap: MemoryEntry,
    /// Kernel memory (v1).
    pub kernel: MemoryEntry,
    /// Kernel TCP memory (v1).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// One memory counter.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct MemoryEntry {
    /// Limit (u64::MAX when unlimited).
    pub limit: u64,
    /// Current usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Process counts.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Pids {
    /// Current.
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// Limit (0 = unlimited, as runc).
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// Block I/O (the recursive counters runc reports).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Blkio {
    /// Bytes.
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Operations.
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// One device counter.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor.
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// "Read", "Write", "Sync", "Async", "Discard", "Total".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// Value.
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// Hugetlb usage for one page size.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Hugetlb {
    /// Current.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak (v1).
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}
