//! The `sigmata` binary: everything happens in [`sigmata_cli::run`].

/// mimalloc instead of the system allocator: loading a rule pack builds and
/// frees hundreds of thousands of small YAML and IR values, where glibc's
/// malloc and free took about a sixth of the load's instructions.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sigmata_cli::run()
}
