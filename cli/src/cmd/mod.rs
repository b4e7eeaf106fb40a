//! One module per subcommand.

pub mod check;
pub mod check_corr;
pub mod compile;
pub mod debug;
pub mod explain;
pub mod nats;
pub mod scan;
pub mod test;
