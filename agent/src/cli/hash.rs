//! `officemesh hash`: the replicated state's hash (`GET /v1/state/hash`). Talks HTTP only
//! through `crate::client`.

use super::ClientArgs;
use crate::api_types::StateHashAnswer;

pub fn run(args: &ClientArgs) -> anyhow::Result<()> {
    let answer = args.client()?.get("/v1/state/hash")?;
    let Some(answer) = args.decode_unless_json::<StateHashAnswer>(answer)? else {
        return Ok(());
    };
    println!("{}", answer.hash);
    Ok(())
}
