#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One pair of small documents per rule: the diff must classify exactly that change.

use harness::openapi::{diff, render_diff, validate, Severity};
use harness::Rendering;
use serde_json::{json, Value};

/// A document with one operation, `POST /items` (body + 200 response) and `GET /items/{id}`.
fn base() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/items": {
                "post": {
                    "parameters": [
                        {"name": "trace", "in": "header", "required": false, "schema": {"type": "string"}},
                        {"name": "tenant", "in": "query", "required": true, "schema": {"type": "string"}}
                    ],
                    "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewItem"}}}},
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                        "400": {"description": "bad"}
                    }
                }
            },
            "/items/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": {"responses": {"200": {"description": "ok"}}}
            }
        },
        "components": {"schemas": {
            "NewItem": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"}, "size": {"type": "integer"}, "color": {"type": "string", "enum": ["red", "blue"]}}},
            "Item": {"type": "object", "properties": {
                "id": {"type": "string"}, "name": {"type": "string"},
                "status": {"type": "string", "enum": ["active", "archived"]},
                "tags": {"type": "array", "items": {"type": "object", "properties": {"label": {"type": "string"}}}}}}
        }}
    })
}

/// Applies `edit` to a copy of the base and returns the single change found.
fn only_change(edit: impl FnOnce(&mut Value)) -> (Severity, String, String) {
    let mut cand = base();
    edit(&mut cand);
    let d = diff(&base(), &cand);
    assert_eq!(
        d.changes.len(),
        1,
        "expected exactly one change, got:\n{}",
        render_diff(&d, Rendering::Text)
    );
    let c = &d.changes[0];
    (c.severity, c.rule.to_owned(), c.location.clone())
}

fn schema<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    &mut doc["components"]["schemas"][name]
}

#[test]
fn identical_documents_have_no_changes() {
    assert!(diff(&base(), &base()).changes.is_empty());
    assert!(validate(&base()).is_empty(), "{:?}", validate(&base()));
}

#[test]
fn removed_path_is_breaking() {
    let (s, rule, _) = only_change(|d| {
        d["paths"].as_object_mut().unwrap().remove("/items/{id}");
    });
    assert_eq!((s, rule.as_str()), (Severity::Breaking, "path.removed"));
}

#[test]
fn removed_method_is_breaking() {
    let (s, rule, loc) = only_change(|d| {
        d["paths"]["/items/{id}"]
            .as_object_mut()
            .unwrap()
            .remove("get");
    });
    assert_eq!(
        (s, rule.as_str(), loc.as_str()),
        (Severity::Breaking, "operation.removed", "GET /items/{id}")
    );
}

#[test]
fn removed_success_response_is_breaking_but_an_error_response_is_not() {
    let (s, rule, _) = only_change(|d| {
        d["paths"]["/items"]["post"]["responses"]
            .as_object_mut()
            .unwrap()
            .remove("200");
    });
    assert_eq!((s, rule.as_str()), (Severity::Breaking, "response.removed"));
    let (s, _, _) = only_change(|d| {
        d["paths"]["/items"]["post"]["responses"]
            .as_object_mut()
            .unwrap()
            .remove("400");
    });
    assert_eq!(s, Severity::NonBreaking);
}

#[test]
fn request_body_becoming_required_is_breaking() {
    let (s, rule, _) =
        only_change(|d| d["paths"]["/items"]["post"]["requestBody"]["required"] = json!(true));
    assert_eq!(
        (s, rule.as_str()),
        (Severity::Breaking, "request-body.became-required")
    );
}

#[test]
fn removing_a_required_parameter_is_breaking() {
    let (s, rule, _) = only_change(|d| {
        d["paths"]["/items"]["post"]["parameters"]
            .as_array_mut()
            .unwrap()
            .remove(1);
    });
    assert_eq!(
        (s, rule.as_str()),
        (Severity::Breaking, "parameter.required-removed")
    );
}

#[test]
fn adding_a_required_parameter_is_breaking() {
    let (s, rule, loc) = only_change(|d| {
        d["paths"]["/items"]["post"]["parameters"].as_array_mut().unwrap().push(json!({"name": "region", "in": "query", "required": true, "schema": {"type": "string"}}));
    });
    assert_eq!(
        (s, rule.as_str()),
        (Severity::Breaking, "parameter.required-added")
    );
    assert!(loc.contains("query parameter \"region\""), "{loc}");
}

#[test]
fn a_parameter_becoming_required_is_breaking() {
    let (s, rule, _) =
        only_change(|d| d["paths"]["/items"]["post"]["parameters"][0]["required"] = json!(true));
    assert_eq!(
        (s, rule.as_str()),
        (Severity::Breaking, "parameter.became-required")
    );
}

#[test]
fn a_new_required_request_property_is_breaking() {
    let (s, rule, loc) = only_change(|d| {
        let s = schema(d, "NewItem");
        s["properties"]["owner"] = json!({"type": "string"});
        s["required"] = json!(["name", "owner"]);
    });
    assert_eq!(
        (s, rule.as_str()),
        (Severity::Breaking, "request.required-property-added")
    );
    assert!(loc.ends_with(".owner"), "{loc}");
}

#[test]
fn an_optional_request_property_becoming_required_is_breaking() {
    let (s, rule, _) = only_change(|d| schema(d, "NewItem")["required"] = json!(["name", "size"]));
    assert_eq!(
        (s, rule.as_str()),
        (Severity::Breaking, "request.property-became-required")
    );
}

#[test]
fn a_removed_response_property_is_breaking_even_when_nested() {
    let (s, rule, loc) = only_change(|d| {
        schema(d, "Item")["properties"]["tags"]["items"]["properties"]
            .as_object_mut()
            .unwrap()
            .remove("label");
    });
    assert_eq!(
        (s, rule.as_str()),
        (Severity::Breaking, "response.property-removed")
    );
    assert!(loc.ends_with(".tags[] .label"), "{loc}");
}

#[test]
fn a_removed_enum_value_is_breaking() {
    let (s, rule, _) =
        only_change(|d| schema(d, "Item")["properties"]["status"]["enum"] = json!(["active"]));
    assert_eq!(
        (s, rule.as_str()),
        (Severity::Breaking, "enum.value-removed")
    );
}

#[test]
fn a_request_value_limited_to_a_set_is_breaking_a_response_one_is_not() {
    let (s, rule, _) =
        only_change(|d| schema(d, "NewItem")["properties"]["name"]["const"] = json!("widget"));
    assert_eq!((s, rule.as_str()), (Severity::Breaking, "enum.introduced"));
    let (s, rule, _) =
        only_change(|d| schema(d, "Item")["properties"]["name"]["enum"] = json!(["a", "b"]));
    assert_eq!(
        (s, rule.as_str()),
        (Severity::NonBreaking, "enum.introduced")
    );
}

#[test]
fn a_union_split_by_a_discriminator_keeps_every_value() {
    // One schema with role in {user, assistant} becomes a oneOf of one branch per role: the
    // same values are accepted, so nothing changed for clients.
    let mut b = base();
    schema(&mut b, "NewItem")["properties"]["role"] =
        json!({"type": "string", "enum": ["user", "assistant"]});
    let mut c = base();
    let props = schema(&mut c, "NewItem")["properties"].clone();
    let mut user = json!({"type": "object", "properties": props.clone()});
    user["properties"]["role"] = json!({"const": "user"});
    let mut assistant = json!({"type": "object", "properties": props});
    assistant["properties"]["role"] = json!({"type": "string", "enum": ["assistant"]});
    *schema(&mut c, "NewItem") = json!({"oneOf": [user, assistant]});
    let d = diff(&b, &c);
    assert!(
        d.breaking().next().is_none(),
        "no breaking change expected:\n{}",
        render_diff(&d, Rendering::Text)
    );
    // Dropping a branch does remove a value.
    let mut fewer = c.clone();
    schema(&mut fewer, "NewItem")["oneOf"]
        .as_array_mut()
        .unwrap()
        .pop();
    let d = diff(&c, &fewer);
    assert!(
        d.breaking()
            .any(|ch| ch.rule == "enum.value-removed" && ch.detail.contains("assistant")),
        "{}",
        render_diff(&d, Rendering::Text)
    );
}

#[test]
fn a_changed_type_is_breaking() {
    let (s, rule, _) =
        only_change(|d| schema(d, "Item")["properties"]["id"]["type"] = json!("integer"));
    assert_eq!((s, rule.as_str()), (Severity::Breaking, "type.changed"));
}

#[test]
fn widening_a_request_type_or_narrowing_a_response_type_is_not_breaking() {
    let (s, rule, _) = only_change(|d| {
        schema(d, "NewItem")["properties"]["size"]["type"] = json!(["integer", "string"])
    });
    assert_eq!((s, rule.as_str()), (Severity::NonBreaking, "type.changed"));
    // A response that may be null is a type change clients must handle: breaking.
    let (s, _, _) = only_change(|d| {
        schema(d, "Item")["properties"]["name"]["type"] = json!(["string", "null"])
    });
    assert_eq!(s, Severity::Breaking);
}

/// A change applied to a candidate document.
type Edit = Box<dyn Fn(&mut Value)>;

#[test]
fn additions_are_notes_not_breaking() {
    let cases: Vec<(&str, Edit)> = vec![
        (
            "path.added",
            Box::new(|d| {
                d["paths"]["/other"] = json!({"get": {"responses": {"200": {"description": "ok"}}}})
            }),
        ),
        (
            "operation.added",
            Box::new(|d| {
                d["paths"]["/items/{id}"]["delete"] =
                    json!({"responses": {"204": {"description": "gone"}}})
            }),
        ),
        (
            "response.added",
            Box::new(|d| {
                d["paths"]["/items"]["post"]["responses"]["409"] =
                    json!({"description": "conflict"})
            }),
        ),
        (
            "parameter.added",
            Box::new(|d| {
                d["paths"]["/items"]["post"]["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "dry_run", "in": "query", "schema": {"type": "boolean"}}))
            }),
        ),
        (
            "parameter.removed",
            Box::new(|d| {
                d["paths"]["/items"]["post"]["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .remove(0);
            }),
        ),
        (
            "request.property-added",
            Box::new(|d| schema(d, "NewItem")["properties"]["note"] = json!({"type": "string"})),
        ),
        (
            "response.property-added",
            Box::new(|d| schema(d, "Item")["properties"]["created"] = json!({"type": "integer"})),
        ),
        (
            "enum.value-added",
            Box::new(|d| {
                schema(d, "Item")["properties"]["status"]["enum"] =
                    json!(["active", "archived", "deleted"])
            }),
        ),
        ("request-body.became-optional", Box::new(|_| {})),
    ];
    for (rule, edit) in cases {
        let mut b = base();
        let mut c = base();
        if rule == "request-body.became-optional" {
            b["paths"]["/items"]["post"]["requestBody"]["required"] = json!(true);
        } else {
            edit(&mut c);
        }
        let d = diff(&b, &c);
        assert_eq!(
            d.changes.len(),
            1,
            "{rule}: {}",
            render_diff(&d, Rendering::Text)
        );
        assert_eq!(
            (d.changes[0].severity, d.changes[0].rule),
            (Severity::NonBreaking, rule),
            "{}",
            render_diff(&d, Rendering::Text)
        );
        assert!(!d.has_breaking());
    }
}

#[test]
fn nullable_written_the_31_way_keeps_its_properties() {
    let mut c = base();
    let item = schema(&mut c, "Item").clone();
    *schema(&mut c, "Item") = json!({"anyOf": [item, {"type": "null"}]});
    let d = diff(&base(), &c);
    assert!(
        !d.changes
            .iter()
            .any(|c| c.rule == "response.property-removed"),
        "{}",
        render_diff(&d, Rendering::Text)
    );
}

#[test]
fn reports_render_in_every_format() {
    let mut c = base();
    c["paths"].as_object_mut().unwrap().remove("/items/{id}");
    let d = diff(&base(), &c);
    assert!(render_diff(&d, Rendering::Text).contains("breaking changes (1)"));
    let j: Value = serde_json::from_str(&render_diff(&d, Rendering::Json)).unwrap();
    assert_eq!(j["breaking"][0]["rule"], "path.removed");
    assert!(render_diff(&d, Rendering::Markdown).starts_with("# OpenAPI diff: BREAKING"));
}
