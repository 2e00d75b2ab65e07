//! Network namespaces and links for tests. Names carry the process id so parallel runs do
//! not collide; addresses are in 10.231.0.0/16 and exist only inside these namespaces.

use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Runs `ip ARGS`, failing with its stderr.
pub fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run `ip` (install iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Fails with a clear message unless the tests can create namespaces.
pub fn require_root() -> Result<()> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run id")?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        bail!("these tests create network namespaces and need root (CI runs them as root)");
    }
    Ok(())
}

/// A network namespace with `lo` up; deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Result<Netns> {
        let name = format!("he2e-{tag}-{}", std::process::id());
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n NAME ARGS`
    pub fn ip(&self, args: &[&str]) -> Result<()> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// A veth pair between two namespaces (or a namespace and the root one, `None`), with an
/// address on each end and multicast on. Deleting a namespace deletes its end, and with
/// it the pair.
pub fn link(a: Option<&Netns>, a_addr: &str, b: &Netns, b_addr: &str, tag: &str) -> Result<()> {
    let (an, bn) = (
        format!("{tag}a{}", std::process::id() % 100_000),
        format!("{tag}b{}", std::process::id() % 100_000),
    );
    let _ = ip(&["link", "del", &an]);
    ip(&["link", "add", &an, "type", "veth", "peer", "name", &bn])?;
    ip(&["link", "set", &bn, "netns", &b.name])?;
    match a {
        Some(a) => {
            ip(&["link", "set", &an, "netns", &a.name])?;
            a.ip(&["addr", "add", a_addr, "dev", &an])?;
            a.ip(&["link", "set", &an, "multicast", "on", "up"])?;
        }
        None => {
            ip(&["addr", "add", a_addr, "dev", &an])?;
            ip(&["link", "set", &an, "multicast", "on", "up"])?;
        }
    }
    b.ip(&["addr", "add", b_addr, "dev", &bn])?;
    b.ip(&["link", "set", &bn, "multicast", "on", "up"])?;
    Ok(())
}
