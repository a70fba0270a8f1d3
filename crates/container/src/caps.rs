//! Capability names and the five sets of the OCI config.

use oci_spec::runtime::LinuxCapabilities;

/// Kernel capability names, index = capability number (the one list moat
/// keeps, also what `moat features` reports).
pub const NAMES: [&str; 41] = moat_spec::features::CAPABILITIES;

/// Parse a capability name ("CAP_CHOWN" or "chown") to its number.
pub fn parse(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    NAMES.iter().position(|n| *n == full).map(|i| i as u32)
}

/// The five capability sets as bit masks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sets {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
}

fn mask<'a>(names: impl Iterator<Item = &'a str>) -> u64 {
    // Unknown names (newer than this kernel table) are ignored, as runc does
    // with a warning: a config written for a newer kernel must still start.
    names.filter_map(parse).fold(0, |m, c| m | (1u64 << c))
}

impl Sets {
    pub fn from_spec(c: &LinuxCapabilities) -> Sets {
        fn m(s: &Option<oci_spec::runtime::Capabilities>) -> u64 {
            match s {
                Some(set) => {
                    let names: Vec<String> = set.iter().map(|c| c.to_string()).collect();
                    mask(names.iter().map(|s| s.as_str()))
                }
                None => 0,
            }
        }
        Sets {
            bounding: m(c.bounding()),
            effective: m(c.effective()),
            inheritable: m(c.inheritable()),
            permitted: m(c.permitted()),
            ambient: m(c.ambient()),
        }
    }
}

/// Highest capability number the running kernel knows
/// (/proc/sys/kernel/cap_last_cap).
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!(parse("CAP_CHOWN"), Some(0));
        assert_eq!(parse("net_raw"), Some(13));
        assert_eq!(parse("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(parse("CAP_NOPE"), None);
    }

    #[test]
    fn oci_names_map() {
        let c: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_KILL","CAP_AUDIT_WRITE"],"ambient":["CAP_NET_BIND_SERVICE"]}"#,
        )
        .unwrap();
        let s = Sets::from_spec(&c);
        assert_eq!(s.bounding, (1 << 5) | (1 << 29));
        assert_eq!(s.ambient, 1 << 10);
        assert_eq!(s.effective, 0);
    }
}
