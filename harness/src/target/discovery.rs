//! Where the API lives and which models to use: the model list read at the given root (and
//! under `/v1`), the first request of every run and eval. Its answer is also the preflight:
//! refused credentials, a wrong root or a server that is not an API stop the command here.

use crate::error::{HarnessError, Refusal};
use crate::target::{Exchange, Req, Target, TransportError};

/// What model discovery found, and why it found nothing when it did not.
#[derive(Debug, Default)]
pub struct Discovery {
    /// The chat model picked.
    pub chat: Option<String>,
    /// The embedding model picked.
    pub embedding: Option<String>,
    /// Why no model list was read (status, body), if it was not.
    pub problem: Option<String>,
    /// How many models the list had.
    pub listed: usize,
}

/// What a candidate root answered to `GET /models`.
enum Listed {
    /// The ids of the models listed.
    Models(Vec<String>),
    /// Why the answer is not a model list, and the answer when there was one.
    Not(String, Option<Box<Exchange>>),
}

/// Reads a model list: the ids, or why the answer is not one.
async fn list_models(target: &Target) -> Result<Listed, HarnessError> {
    let url = target.url("/v1/models");
    let ex = match target.send(Req::get("/v1/models")).await {
        Ok(ex) => ex,
        Err(e @ (TransportError::Unreachable { .. } | TransportError::Timeout { .. })) => {
            return Err(HarnessError::Unreachable(e.to_string()))
        }
        Err(e) => return Ok(Listed::Not(e.to_string(), None)),
    };
    if ex.status != 200 {
        let why = format!("GET {url} answered HTTP {}: {}", ex.status, ex.excerpt());
        return Ok(Listed::Not(why, Some(Box::new(ex))));
    }
    let list = ex.json().ok().and_then(|v| v["data"].as_array().cloned());
    match list {
        Some(models) => Ok(Listed::Models(
            models
                .iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect(),
        )),
        None => {
            let why = format!(
                "GET {url} answered HTTP 200 without a model list: {}",
                ex.excerpt()
            );
            Ok(Listed::Not(why, Some(Box::new(ex))))
        }
    }
}

/// When no root listed models: stops on an answer that means the target cannot be used
/// (refused credentials, nothing served there, not an API). A models list that is only
/// missing or broken is not such an answer: a `POST` with an empty body to each generation
/// endpoint (no generation; an API answers 400) tells a wrong root from an API without
/// `/models`.
async fn refusal(target: &Target, answers: &[Exchange]) -> Result<(), HarnessError> {
    let had_key = target.has_key();
    let judged: Vec<_> = answers
        .iter()
        .filter_map(|ex| crate::preflight::judge(ex, &crate::preflight::asked(ex), had_key))
        .collect();
    if let Some(r) = judged
        .iter()
        .find(|r| matches!(r, Refusal::Credentials { .. }))
    {
        return Err(HarnessError::Refused(r.clone()));
    }
    // A root that 404s is wrong only if none of the API's own endpoints is there either: a
    // server may serve only embeddings, or only responses, and no model list.
    let Some(first) = judged.first() else {
        return Ok(());
    };
    let mut shown = None;
    for path in PROBED {
        let Ok(ex) = target.send(Req::post(path, &serde_json::json!({}))).await else {
            continue;
        };
        match crate::preflight::judge(&ex, &crate::preflight::asked(&ex), had_key) {
            None => return Ok(()),
            Some(r @ Refusal::Credentials { .. }) => return Err(HarnessError::Refused(r)),
            // What came first is told, unless a probe showed more (HTML behind a 404).
            Some(r @ Refusal::NotAnApi { .. }) if !matches!(first, Refusal::NotAnApi { .. }) => {
                shown.get_or_insert(r);
            }
            Some(_) => {}
        }
    }
    Err(HarnessError::Refused(
        shown.unwrap_or_else(|| first.clone()),
    ))
}

/// The endpoints asked with an empty body (no generation: an API answers 400) when no root
/// lists models.
const PROBED: [&str; 3] = ["/v1/chat/completions", "/v1/embeddings", "/v1/responses"];

/// Finds where the API lives and picks a chat and an embedding model. The given URL is the
/// API root, as an SDK's `base_url`. A bare origin (`http://host:8000`) is first tried under
/// `/v1`, where nearly every server has it, then as given; any other URL is tried as given,
/// then under `/v1`.
pub async fn discover(target: Target) -> Result<(Target, Discovery, Vec<String>), HarnessError> {
    let mut notes = Vec::new();
    let bare_origin = url::Url::parse(target.api_root()).is_ok_and(|u| u.path() == "/");
    let mut candidates = vec![target.clone()];
    if !target.api_root().ends_with("/v1") {
        let under = target.clone().under_v1();
        if bare_origin {
            candidates.insert(0, under);
        } else {
            candidates.push(under);
        }
    }
    // When no candidate lists models, the first is still the likeliest root.
    let fallback = candidates[0].clone();
    let mut first_problem: Option<String> = None;
    let mut answers = Vec::new();
    let mut found = None;
    let count = candidates.len();
    for (i, candidate) in candidates.into_iter().enumerate() {
        // Only the last candidate's silence means the target is unreachable.
        let listed = match list_models(&candidate).await {
            Err(e) if i + 1 < count => Ok(Listed::Not(e.to_string(), None)),
            other => other,
        }?;
        match listed {
            Listed::Models(ids) => {
                found = Some((candidate, ids));
                break;
            }
            Listed::Not(why, answer) => {
                first_problem.get_or_insert(why);
                answers.extend(answer.map(|a| *a));
            }
        }
    }
    if found.is_none() {
        refusal(&fallback, &answers).await?;
    }
    if let Some((chosen, _)) = &found {
        if chosen.api_root() != target.api_root() {
            notes.push(format!(
                "the API answers under {}; the run uses it as the API root",
                chosen.api_root()
            ));
        }
    }
    let (target, listed) = match found {
        Some((chosen, ids)) => (chosen, Ok(ids)),
        None => (fallback, Err(first_problem.unwrap_or_default())),
    };
    let ids = match listed {
        Ok(ids) => ids,
        Err(why) => {
            let problem =
                format!("{why} (is --target the API root, the URL an SDK's base_url takes?)");
            notes.push(format!("model discovery failed: {problem}"));
            return Ok((
                target,
                Discovery {
                    problem: Some(problem),
                    ..Discovery::default()
                },
                notes,
            ));
        }
    };
    let embedding = ids.iter().find(|id| id.contains("embed")).cloned();
    let non_chat = [
        "embed",
        "whisper",
        "tts",
        "dall-e",
        "image",
        "moderation",
        "audio",
        "realtime",
        "transcribe",
        "search",
    ];
    let chat = ids
        .iter()
        .find(|id| !non_chat.iter().any(|n| id.contains(n)))
        .cloned();
    Ok((
        target,
        Discovery {
            chat,
            embedding,
            problem: None,
            listed: ids.len(),
        },
        notes,
    ))
}
