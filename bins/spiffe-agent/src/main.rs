//! `spiffe-agent`: runs the agent and uses the Workload API.

fn main() {
    std::process::exit(2);
}
