//! Rust mirrors of `bpf/switchboard.h`: the map layouts the programs and the loader
//! share. A unit test checks the constants and sizes against the header itself.

/// Most shards one listener group can have (`SB_MAX_SHARDS`).
pub(crate) const MAX_SHARDS: usize = 256;

/// `sb_config.steer_mode`: reuse_md->hash over the eligible shards.
pub(crate) const STEER_HASH: u32 = 0;
/// `sb_config.steer_mode`: the eligible shard with the lowest load.
pub(crate) const STEER_LEAST_LOADED: u32 = 1;

/// The shed level at which the programs rate limit new connections.
pub(crate) const SHED_KERNEL_LEVEL: u8 = 3;

/// Steer counters: `STEER_CTR_STEERED + shard`, then the drops and the fallback.
pub(crate) const STEER_CTR_STEERED: u32 = 0;
pub(crate) const STEER_CTR_DROPPED_BUCKET: u32 = MAX_SHARDS as u32;
pub(crate) const STEER_CTR_DROPPED_LEVEL: u32 = MAX_SHARDS as u32 + 1;
pub(crate) const STEER_CTR_FALLBACK: u32 = MAX_SHARDS as u32 + 2;

/// XDP counters.
pub(crate) const SHED_CTR_SYN_SEEN: u32 = 0;
pub(crate) const SHED_CTR_PASSED: u32 = 1;
pub(crate) const SHED_CTR_DROPPED_BUCKET: u32 = 2;
pub(crate) const SHED_CTR_DROPPED_LEVEL: u32 = 3;

/// Map names in the objects.
pub(crate) const STEER_PROGRAM: &str = "sb_steer";
pub(crate) const STEER_LISTENERS: &str = "sb_listeners";
pub(crate) const STEER_CONFIG: &str = "sb_steer_config";
pub(crate) const STEER_SHARDS: &str = "sb_shards";
pub(crate) const STEER_COUNTERS: &str = "sb_steer_counters";
pub(crate) const SHED_PROGRAM: &str = "sb_shed";
pub(crate) const SHED_CONFIG: &str = "sb_shed_config";
pub(crate) const SHED_COUNTERS: &str = "sb_shed_counters";

/// `struct sb_config`, key 0 of each program's config array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) steer_mode: u32,
    pub(crate) nr_shards: u32,
    pub(crate) shed_level: u32,
    pub(crate) rate_per_sec: u32,
    pub(crate) burst: u32,
    pub(crate) port: u32,
}

/// `struct sb_shard`, one per shard in the steer program's shard array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ShardState {
    pub(crate) load: u32,
    pub(crate) draining: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = include_str!("../bpf/switchboard.h");

    /// The value of `#define NAME value` in the header (numbers and `(A + n)` forms).
    fn define(name: &str) -> u64 {
        let line = HEADER
            .lines()
            .find(|line| {
                line.strip_prefix("#define ")
                    .and_then(|rest| rest.strip_prefix(name))
                    .is_some_and(|rest| rest.starts_with([' ', '\t']))
            })
            .unwrap_or_else(|| panic!("#define {name} not in switchboard.h"));
        let value = line["#define ".len() + name.len()..]
            .split("/*")
            .next()
            .unwrap_or_default()
            .trim()
            .trim_end_matches("ULL");
        if let Some(sum) = value.strip_prefix('(').and_then(|v| v.strip_suffix(')')) {
            let (base, offset) = sum.split_once('+').expect("(A + n)");
            return define(base.trim()) + offset.trim().parse::<u64>().expect("offset");
        }
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} = {value:?}"))
    }

    /// The byte size of a header struct made only of `__u32`/`__u64` fields.
    fn struct_size(name: &str) -> usize {
        let start = HEADER
            .find(&format!("struct {name} {{"))
            .unwrap_or_else(|| panic!("struct {name} not in switchboard.h"));
        let body = &HEADER[start..start + HEADER[start..].find("};").expect("end of struct")];
        body.lines()
            .skip(1)
            .map(|line| line.trim())
            .filter(|line| line.starts_with("__u"))
            .map(|line| {
                let width = if line.starts_with("__u64") { 8 } else { 4 };
                let count = line
                    .split('[')
                    .nth(1)
                    .and_then(|n| n.split(']').next())
                    .map_or(1, |n| n.parse::<usize>().expect("array length"));
                width * count
            })
            .sum()
    }

    #[test]
    fn constants_match_the_header() {
        assert_eq!(define("SB_MAX_SHARDS"), MAX_SHARDS as u64);
        assert_eq!(define("SB_STEER_HASH"), u64::from(STEER_HASH));
        assert_eq!(
            define("SB_STEER_LEAST_LOADED"),
            u64::from(STEER_LEAST_LOADED)
        );
        assert_eq!(define("SB_SHED_KERNEL_LEVEL"), u64::from(SHED_KERNEL_LEVEL));
        assert_eq!(define("SB_STEER_CTR_STEERED"), u64::from(STEER_CTR_STEERED));
        assert_eq!(
            define("SB_STEER_CTR_DROPPED_BUCKET"),
            u64::from(STEER_CTR_DROPPED_BUCKET)
        );
        assert_eq!(
            define("SB_STEER_CTR_DROPPED_LEVEL"),
            u64::from(STEER_CTR_DROPPED_LEVEL)
        );
        assert_eq!(
            define("SB_STEER_CTR_FALLBACK"),
            u64::from(STEER_CTR_FALLBACK)
        );
        assert_eq!(define("SB_SHED_CTR_SYN_SEEN"), u64::from(SHED_CTR_SYN_SEEN));
        assert_eq!(define("SB_SHED_CTR_PASSED"), u64::from(SHED_CTR_PASSED));
        assert_eq!(
            define("SB_SHED_CTR_DROPPED_BUCKET"),
            u64::from(SHED_CTR_DROPPED_BUCKET)
        );
        assert_eq!(
            define("SB_SHED_CTR_DROPPED_LEVEL"),
            u64::from(SHED_CTR_DROPPED_LEVEL)
        );
    }

    #[test]
    fn struct_sizes_match_the_header() {
        assert_eq!(struct_size("sb_config"), size_of::<Config>());
        assert_eq!(struct_size("sb_shard"), size_of::<ShardState>());
    }
}
