//! Access Evaluations (§"Access Evaluations API"): the items of a request,
//! each completed by the request's defaults, decided in order under the
//! request's evaluation semantics.

use super::mapping::{failed, Question};
use super::model::{
    EvaluationItem, EvaluationResponse, EvaluationsRequest, EvaluationsResponse,
    EvaluationsSemantic,
};
use crate::error::{Error, Result};
use crate::http::ApiState;
use crate::policy::PolicySnapshot;

/// Answers `request`, asked at `asked_at`, against one policy snapshot.
/// `max_batch` bounds the items (more are a 413, as for
/// `POST /v1/authorize/batch`).
pub fn answer(
    state: &ApiState,
    snapshot: &PolicySnapshot,
    request: &EvaluationsRequest,
    asked_at: std::time::Instant,
) -> Result<EvaluationsResponse> {
    let max_batch = state.limits.max_batch;
    let items = request.evaluations.as_deref().unwrap_or_default();
    if items.len() > max_batch {
        return Err(Error::LimitExceeded {
            code: "batch_too_large",
            message: format!(
                "{} evaluations in one request; at most {max_batch} (max_batch)",
                items.len()
            ),
        });
    }
    // §"The Access Evaluations API Request": "If an `evaluations` array is
    // NOT present or is empty, the Access Evaluations Request behaves in a
    // backwards-compatible manner with the (single) Access Evaluation API
    // Request": the top-level keys are the question, and a missing one is
    // a 400 (§"JSON Serialization").
    if items.is_empty() {
        let no_keys = EvaluationItem::default();
        let question = completed(request, &no_keys, "body")?;
        let one = question.decide(state, snapshot, asked_at)?;
        return Ok(EvaluationsResponse::One(Box::new(one)));
    }
    let semantic = request
        .options
        .as_ref()
        .and_then(|options| options.evaluations_semantic)
        .unwrap_or_default();
    let mut evaluations = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("evaluations[{i}]");
        let evaluation = completed(request, item, &field)
            .and_then(|question| question.decide(state, snapshot, asked_at))
            .unwrap_or_else(|e| failed(&e));
        let last = decides(semantic, &evaluation);
        evaluations.push(evaluation);
        if last {
            break;
        }
    }
    Ok(EvaluationsResponse::Many { evaluations })
}

/// Whether `evaluation` ends the request under `semantic`
/// (§"Evaluations semantics"): a denial or failure under
/// `deny_on_first_deny`, a permit under `permit_on_first_permit`.
fn decides(semantic: EvaluationsSemantic, evaluation: &EvaluationResponse) -> bool {
    match semantic {
        EvaluationsSemantic::ExecuteAll => false,
        EvaluationsSemantic::DenyOnFirstDeny => !evaluation.decision,
        EvaluationsSemantic::PermitOnFirstPermit => evaluation.decision,
    }
}

/// `item`'s question: each of its keys, else the request's default
/// (§"Default values": a key of the item "overrides the corresponding
/// top-level default", whole; "any of these keys omitted from an evaluation
/// object MUST be provided as a top-level key"). `field` names the item
/// for errors.
fn completed<'a>(
    request: &'a EvaluationsRequest,
    item: &'a EvaluationItem,
    field: &str,
) -> Result<Question<'a>> {
    let missing = |key: &str| {
        Error::invalid(
            format!("{field}.{key}"),
            "missing: give it in the evaluation or as a top-level default",
        )
    };
    Ok(Question {
        subject: item
            .subject
            .as_ref()
            .or(request.subject.as_ref())
            .ok_or_else(|| missing("subject"))?,
        action: item
            .action
            .as_ref()
            .or(request.action.as_ref())
            .ok_or_else(|| missing("action"))?,
        resource: item
            .resource
            .as_ref()
            .or(request.resource.as_ref())
            .ok_or_else(|| missing("resource"))?,
        context: item.context.as_ref().or(request.context.as_ref()),
    })
}
