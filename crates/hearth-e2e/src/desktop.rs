//! One desktop app instance under WebDriver: `tauri-driver` (which starts
//! `WebKitWebDriver`, which starts the app) runs inside a network namespace, on its own
//! virtual screen. The test reaches the driver on 127.0.0.1 inside that namespace
//! through [`NetnsConnector`].

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::netns::Netns;

/// A virtual X server with a small window manager (openbox), one per app so that a
/// screenshot of its screen is that app's window alone. With a window manager, focus
/// moves between windows as on a desktop (without one, every window counts as focused).
/// Its unix socket is reachable from inside network namespaces.
pub struct Xvfb {
    child: Child,
    wm: Option<Child>,
    pub display: String,
}

impl Xvfb {
    /// `slot` tells the displays of one test apart (0, 1, ...). The screen holds the
    /// largest window size the tests use.
    pub fn start(slot: u32) -> Result<Xvfb> {
        let n = 100 + (std::process::id() % 300) * 4 + slot;
        let display = format!(":{n}");
        let child = Command::new("Xvfb")
            // Room for a 1280x800 window and its frame.
            .args([&display, "-screen", "0", "1400x900x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start Xvfb (install xvfb)")?;
        let sock = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        let mut x = Xvfb {
            child,
            wm: None,
            display,
        };
        wait_until(Duration::from_secs(10), || sock.exists()).context("Xvfb did not come up")?;
        x.wm = Some(
            Command::new("openbox")
                .args(["--sm-disable"])
                .env("DISPLAY", &x.display)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start openbox (install openbox)")?,
        );
        Ok(x)
    }

    /// A PNG of the whole screen, as a person would see it (ImageMagick's `import`).
    /// WebKitWebDriver's own screenshot does not answer under Xvfb without compositing.
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        self.import(&["-window", "root"], path)
    }

    /// A PNG of the app's window alone (its content, without the frame).
    pub fn screenshot_window(&self, path: &Path) -> Result<()> {
        let id = self.app_window()?;
        self.import(&["-window", &id], path)
    }

    fn import(&self, args: &[&str], path: &Path) -> Result<()> {
        let out = Command::new("import")
            .args(["-display", &self.display])
            .args(args)
            .arg(path)
            .output()
            .context("cannot run import (install imagemagick)")?;
        if !out.status.success() {
            bail!("import: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }

    fn xdotool(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .context("cannot run xdotool (install xdotool)")?;
        if !out.status.success() {
            bail!(
                "xdotool {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The X id of the app's main window.
    pub fn app_window(&self) -> Result<String> {
        let ids = self.xdotool(&["search", "--onlyvisible", "--name", "^Hearth"])?;
        ids.lines()
            .last()
            .map(str::to_string)
            .context("no Hearth window on the screen")
    }

    /// Resizes the app's window (its content area) to `w`×`h` at the top left corner, as a
    /// person dragging its edge would; waits until the window has that size.
    pub fn resize_app(&self, w: u32, h: u32) -> Result<()> {
        let id = self.app_window()?;
        self.xdotool(&["windowmove", &id, "0", "0"])?;
        self.xdotool(&["windowsize", "--sync", &id, &w.to_string(), &h.to_string()])?;
        Ok(())
    }

    /// Gives the keyboard focus to another window (a person switching to another app).
    pub fn focus_elsewhere(&self) -> Result<Child> {
        let other = Command::new("xmessage")
            .args(["-geometry", "200x60+1000+700", "another app"])
            .env("DISPLAY", &self.display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot run xmessage (install x11-utils)")?;
        wait_until(Duration::from_secs(5), || {
            self.xdotool(&["search", "--onlyvisible", "--name", "^xmessage$"])
                .is_ok_and(|s| !s.is_empty())
        })?;
        let id = self.xdotool(&["search", "--onlyvisible", "--name", "^xmessage$"])?;
        if let Some(id) = id.lines().last() {
            self.xdotool(&["windowactivate", "--sync", id])?;
        }
        Ok(other)
    }

    /// Closes the app's window as a person would (Alt+F4, through the window manager).
    pub fn close_app_window(&self) -> Result<()> {
        let id = self.app_window()?;
        self.xdotool(&["windowactivate", "--sync", &id])?;
        self.xdotool(&["key", "--clearmodifiers", "alt+F4"])?;
        Ok(())
    }

    /// Gives the keyboard focus back to the app.
    pub fn focus_app(&self) -> Result<()> {
        let id = self.app_window()?;
        self.xdotool(&["windowactivate", "--sync", &id])?;
        Ok(())
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        if let Some(wm) = &mut self.wm {
            let _ = wm.kill();
            let _ = wm.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Result<()> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("condition not met within {limit:?}")
}

/// Opens WebDriver connections to 127.0.0.1 inside a network namespace, from a
/// short-lived thread that entered it: the drivers accept only local requests (they
/// check the Host header), so forwarding the port would not do.
#[derive(Clone)]
pub struct NetnsConnector {
    netns: Option<std::sync::Arc<str>>,
}

impl tower_service::Service<http::Uri> for NetnsConnector {
    type Response = hyper_util::rt::TokioIo<tokio::net::TcpStream>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<Self::Response>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let netns = self.netns.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or("127.0.0.1").to_string();
            let port = uri.port_u16().unwrap_or(80);
            let (tx, rx) = tokio::sync::oneshot::channel();
            // A fresh thread: the namespace switch must never leak into a pooled one.
            std::thread::spawn(move || {
                let result = (|| -> std::io::Result<std::net::TcpStream> {
                    if let Some(ns) = netns {
                        let f = std::fs::File::open(format!("/var/run/netns/{ns}"))?;
                        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
                            .map_err(std::io::Error::from)?;
                    }
                    let s = std::net::TcpStream::connect((host.as_str(), port))?;
                    s.set_nonblocking(true)?;
                    Ok(s)
                })();
                let _ = tx.send(result);
            });
            let std_stream = rx
                .await
                .map_err(|_| std::io::Error::other("connect thread died"))??;
            Ok(hyper_util::rt::TokioIo::new(
                tokio::net::TcpStream::from_std(std_stream)?,
            ))
        })
    }
}

/// Where [`Driver::start`] records the notifications the app sends (dbus-monitor's
/// output), beside the driver's log.
pub fn notifications_log(log: &Path) -> PathBuf {
    log.with_extension("notifications")
}

/// `tauri-driver`, in a namespace or in this one.
pub struct Driver {
    driver: Child,
    netns: Option<String>,
    pub url: String,
}

impl Driver {
    /// Starts the driver on 127.0.0.1:`port` in `ns` (or in this namespace).
    pub async fn start(
        ns: Option<&Netns>,
        port: u16,
        display: &str,
        log: &Path,
        extra_env: &[&str],
    ) -> Result<Driver> {
        let log_file = std::fs::File::create(log).context("driver log")?;
        let mut cmd = match ns {
            Some(ns) => ns.command("env"),
            None => Command::new("env"),
        };
        // Its own process group: dropping the driver ends dbus, the driver, WebKitWebDriver
        // and the app together.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd
            .args(extra_env)
            .args([
                &format!("DISPLAY={display}"),
                // Software rendering: Xvfb has no GPU.
                "WEBKIT_DISABLE_COMPOSITING_MODE=1",
                "LIBGL_ALWAYS_SOFTWARE=1",
                "NO_AT_BRIDGE=1",
                "HEARTH_LOG=info,hearth=debug",
                "dbus-run-session",
                "--",
                "sh",
                "-c",
                // Desktop notifications are method calls on the session bus: record them
                // (there is no notification server, so each one fails after it is seen).
                // The bus address is kept too, so a test can reach the tray icon's menu.
                "echo \"$DBUS_SESSION_BUS_ADDRESS\" > \"$0.bus\"; dbus-monitor --session \"type='method_call',interface='org.freedesktop.Notifications',member='Notify'\" > \"$0\" 2>&1 & exec tauri-driver --port \"$1\" --native-port \"$2\"",
            ])
            .arg(notifications_log(log))
            .args([port.to_string(), (port + 1).to_string()])
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("cannot start tauri-driver (cargo install tauri-driver --version ^2)")?;
        let d = Driver {
            driver,
            netns: ns.map(|n| n.name.clone()),
            url: format!("http://127.0.0.1:{port}"),
        };
        let connector = NetnsConnector {
            netns: d.netns.as_deref().map(Into::into),
        };
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let mut c = connector.clone();
            let uri: http::Uri = format!("{}/status", d.url).parse()?;
            if tower_service::Service::call(&mut c, uri).await.is_ok() {
                break;
            }
            if Instant::now() > end {
                bail!("tauri-driver did not come up (log: {})", log.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(d)
    }

    /// Starts the app with its own data directory and opens a WebDriver session on it.
    pub async fn launch(&self, app: &Path, data_dir: &Path) -> Result<Client> {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "tauri:options".into(),
            json!({
                "application": app,
                "args": ["--data-dir", data_dir],
            }),
        );
        // tauri-driver may accept the port before WebKitWebDriver is ready: retry.
        let mut last = None;
        for _ in 0..20 {
            let connector = NetnsConnector {
                netns: self.netns.as_deref().map(Into::into),
            };
            // A session that never answers (the app did not start) must not hang the test.
            let mut builder = ClientBuilder::new(connector);
            builder.capabilities(caps.clone());
            match tokio::time::timeout(Duration::from_secs(60), builder.connect(&self.url)).await {
                Ok(Ok(c)) => return Ok(c),
                Ok(Err(e)) => last = Some(e.to_string()),
                Err(_) => bail!("the WebDriver session did not open within 60 s"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        bail!("cannot open a WebDriver session: {last:?}")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(-(self.driver.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.driver.wait();
    }
}

/// Conveniences over a WebDriver session, by `data-testid`.
pub struct Ui {
    pub client: Client,
}

pub fn testid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

/// Fails with `what` if a WebDriver call does not answer: a hung driver must not hang
/// the test without saying where.
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(Duration::from_secs(30), f).await {
        Ok(r) => r,
        Err(_) => bail!("no answer within 30 s: {what}"),
    }
}

impl Ui {
    pub async fn find(&self, id: &str) -> Result<fantoccini::elements::Element> {
        let css = testid(id);
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(&css))
            .await
            .with_context(|| format!("no element {css}"))
    }

    pub async fn click(&self, id: &str) -> Result<()> {
        within(&format!("click {id}"), async {
            Ok(self.find(id).await?.click().await?)
        })
        .await
    }

    pub async fn type_into(&self, id: &str, text: &str) -> Result<()> {
        within(&format!("type into {id}"), async {
            Ok(self.find(id).await?.send_keys(text).await?)
        })
        .await
    }

    /// Waits until the page's text content (innerText of body) satisfies `f`.
    pub async fn wait_text(
        &self,
        what: &str,
        limit: Duration,
        f: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let end = Instant::now() + limit;
        loop {
            let text = self.body_text().await?;
            if f(&text) {
                return Ok(text);
            }
            if Instant::now() > end {
                bail!("timed out waiting for {what}; page text was:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn body_text(&self) -> Result<String> {
        let v = within("read page text", async {
            Ok(self
                .client
                .execute("return document.body.innerText", vec![])
                .await?)
        })
        .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Opens "Host a room" and fills it in (the dialog stays open, e.g. for a screenshot).
    pub async fn fill_host_dialog(&self, name: &str, passcode: Option<&str>) -> Result<()> {
        self.click("host-button").await?;
        self.type_into("host-name", name).await?;
        if let Some(p) = passcode {
            self.type_into("host-passcode", p).await?;
        }
        Ok(())
    }

    /// Submits the filled host dialog, closes the invite dialog and waits for the room
    /// view. Returns the invite link the app showed.
    pub async fn submit_host_dialog(&self) -> Result<String> {
        self.click("host-submit").await?;
        let invite = self
            .find("invite-link")
            .await?
            .prop("value")
            .await?
            .unwrap_or_default();
        self.click("hosted-done").await?;
        self.find("room-view").await?;
        Ok(invite)
    }

    pub async fn title(&self) -> Result<String> {
        Ok(self.client.title().await?)
    }
}
