//! `hearth whoami`: this install's identity (protocol §3.7), to compare with a
//! colleague's screen: the user id, its identity code, and the public key.

use std::process::ExitCode;

use anyhow::Context;
use hearth::identity::Identity;

#[derive(clap::Args, Debug)]
pub struct WhoamiArgs {
    /// One JSON object instead of lines for people
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: crate::DataDir,
}

pub async fn run(a: WhoamiArgs) -> anyhow::Result<ExitCode> {
    let data_dir = a.data.resolve()?;
    // File work off the async runtime; the key is created here on first use.
    let id = tokio::task::spawn_blocking(move || Identity::load_or_create(&data_dir))
        .await
        .context("the identity task failed")??;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "user_id": id.user_id(),
                "identity_code": id.code(),
                "public_key": id.public_key_hex(),
            })
        );
    } else {
        println!("user id        {}", id.user_id());
        println!("identity code  {}", id.code());
        println!("public key     {}", id.public_key_hex());
    }
    Ok(ExitCode::SUCCESS)
}
