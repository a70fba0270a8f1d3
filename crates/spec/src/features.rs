//! `moat features`: the runc-schema JSON document of what moat supports.
