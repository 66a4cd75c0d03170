//! Which offered tool a prompt is about, as a model would judge it under `tool_choice: auto`:
//! the tool whose *subject* the prompt talks about. A tool's subject is the words of its name
//! (split on `_`, `-` and camelCase, without verbs such as `get` or `list`) and the content
//! words of its description. "What's the weather like in San Francisco?" selects
//! `get_weather`; "What is 2 + 2?" selects nothing. Deterministic: the best score wins, ties go
//! to the tool offered first.

/// Verbs that say what a tool does, not what it is about: `get_weather` is about weather.
const VERBS: &[&str] = &[
    "get",
    "set",
    "list",
    "fetch",
    "create",
    "update",
    "delete",
    "remove",
    "add",
    "put",
    "post",
    "read",
    "write",
    "find",
    "lookup",
    "look",
    "retrieve",
    "call",
    "run",
    "do",
    "make",
    "check",
    "send",
    "search",
    "query",
    "show",
    "compute",
    "calculate",
    "return",
    "returns",
    "gets",
    "sets",
    "lists",
    "fetches",
    "creates",
    "use",
    "uses",
    "given",
    "provide",
    "provides",
];

/// Words too common to say what a description is about.
const STOP: &[&str] = &[
    "the",
    "and",
    "for",
    "with",
    "from",
    "that",
    "this",
    "these",
    "those",
    "into",
    "onto",
    "its",
    "their",
    "your",
    "you",
    "are",
    "was",
    "were",
    "will",
    "can",
    "may",
    "any",
    "all",
    "some",
    "each",
    "every",
    "one",
    "two",
    "more",
    "most",
    "such",
    "than",
    "then",
    "when",
    "where",
    "which",
    "what",
    "who",
    "whom",
    "how",
    "about",
    "also",
    "only",
    "like",
    "e.g",
    "etc",
    "current",
    "currently",
    "given",
    "specified",
    "specific",
    "based",
    "user",
    "users",
    "data",
    "information",
    "details",
    "value",
    "values",
    "function",
    "tool",
    "name",
    "named",
    "new",
    "other",
    "there",
    "here",
    "over",
    "under",
    "between",
    "using",
    "used",
    "not",
    "but",
    "has",
    "have",
    "had",
    "been",
    "being",
    "per",
    "via",
    "our",
    "his",
    "her",
    "they",
    "them",
];

/// A function the caller offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Function name.
    pub name: String,
    /// What the tool does, as the caller described it.
    pub description: Option<String>,
    /// JSON Schema of its arguments.
    pub parameters: serde_json::Value,
}

/// The tool `prompt` is about, if any: a tool named in the prompt as it is (`get_weather`,
/// `get weather`) first, else the best subject score above zero.
pub fn about<'t>(tools: &'t [ToolSpec], prompt: &str) -> Option<&'t ToolSpec> {
    let lower = prompt.to_lowercase();
    if let Some(named) = tools.iter().find(|t| {
        let name = t.name.to_lowercase();
        lower.contains(&name) || lower.contains(&name.replace(['_', '-'], " "))
    }) {
        return Some(named);
    }
    let said: Vec<String> = words(&lower).map(stem).collect();
    let mut best: Option<(&ToolSpec, usize)> = None;
    for tool in tools {
        let score = score(tool, &said);
        if score > 0 && best.is_none_or(|(_, b)| score > b) {
            best = Some((tool, score));
        }
    }
    best.map(|(tool, _)| tool)
}

/// Two points per subject word of the name the prompt says, one per description word.
fn score(tool: &ToolSpec, said: &[String]) -> usize {
    let says = |w: &str| said.iter().any(|s| s == w);
    let name = subject(&split_name(&tool.name));
    let mut seen: Vec<String> = Vec::new();
    let mut total = 0;
    for w in name {
        if !seen.contains(&w) && says(&w) {
            total += 2;
        }
        seen.push(w);
    }
    if let Some(description) = &tool.description {
        let lower = description.to_lowercase();
        for w in subject(&words(&lower).map(str::to_owned).collect::<Vec<_>>()) {
            if !seen.contains(&w) && says(&w) {
                total += 1;
            }
            seen.push(w);
        }
    }
    total
}

/// The words that carry a subject: no verbs, no common words, three letters or more, stemmed.
fn subject(words: &[String]) -> Vec<String> {
    words
        .iter()
        .filter(|w| w.chars().count() >= 3 && w.chars().all(char::is_alphanumeric))
        .filter(|w| !VERBS.contains(&w.as_str()) && !STOP.contains(&w.as_str()))
        .map(|w| stem(w))
        .collect()
}

/// The words of lowercase text (letters and digits; an apostrophe ends a word).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// `getWeather`, `get_weather`, `get-weather` and `GetWeather` all give `get`, `weather`.
fn split_name(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            out.extend((!word.is_empty()).then(|| std::mem::take(&mut word)));
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            out.push(std::mem::take(&mut word));
        }
        word.extend(c.to_lowercase());
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
    }
    out.extend((!word.is_empty()).then_some(word));
    out
}

/// A plural's singular, crudely but the same way on both sides: `cities` and `city` meet,
/// `forecasts` and `forecast` meet.
fn stem(word: &str) -> String {
    if let Some(base) = word.strip_suffix("ies").filter(|b| b.len() >= 2) {
        return format!("{base}y");
    }
    if let Some(base) = word
        .strip_suffix("es")
        .filter(|b| b.ends_with("ch") || b.ends_with("sh") || b.ends_with('x') || b.ends_with("ss"))
    {
        return base.to_owned();
    }
    match word.strip_suffix('s') {
        Some(base) if base.len() >= 3 && !base.ends_with('s') => base.to_owned(),
        _ => word.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, description: Option<&str>) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: description.map(str::to_owned),
            parameters: json!({"type": "object"}),
        }
    }

    fn pick<'t>(tools: &'t [ToolSpec], prompt: &str) -> Option<&'t str> {
        about(tools, prompt).map(|t| t.name.as_str())
    }

    #[test]
    fn names_split_into_words_of_every_style() {
        for name in ["get_weather", "getWeather", "GetWeather", "get-weather"] {
            assert_eq!(split_name(name), ["get", "weather"], "{name}");
        }
        assert_eq!(split_name("list_open_PRs2"), ["list", "open", "prs2"]);
    }

    #[test]
    fn the_subject_of_the_name_selects_the_tool() {
        let tools = [tool("get_weather", None), tool("get_time", None)];
        assert_eq!(
            pick(&tools, "What's the weather like in San Francisco?"),
            Some("get_weather")
        );
        assert_eq!(pick(&tools, "What time is it in Lisbon?"), Some("get_time"));
        assert_eq!(pick(&tools, "What is 2 + 2?"), None, "no subject said");
        assert_eq!(
            pick(&tools, "Get me a coffee"),
            None,
            "a verb is no subject"
        );
    }

    #[test]
    fn the_description_selects_when_the_name_does_not() {
        let tools = [
            tool("lookup", Some("Look up the stock price of a company")),
            tool("f2", Some("Translate text between languages")),
        ];
        assert_eq!(pick(&tools, "What is ACME's stock price?"), Some("lookup"));
        assert_eq!(pick(&tools, "Can you translate this?"), Some("f2"));
        assert_eq!(pick(&tools, "Tell me a joke"), None);
    }

    #[test]
    fn the_name_outweighs_the_description_and_ties_go_to_the_first() {
        let tools = [
            tool("get_forecast", Some("Weather forecast for a city")),
            tool("get_weather", Some("Current conditions")),
        ];
        assert_eq!(pick(&tools, "Any weather news?"), Some("get_weather"));
        let tied = [tool("city_info", None), tool("city_map", None)];
        assert_eq!(pick(&tied, "Tell me about cities"), Some("city_info"));
    }

    #[test]
    fn a_name_said_whole_wins_over_any_subject() {
        let tools = [tool("get_weather", None), tool("send_email", None)];
        assert_eq!(
            pick(&tools, "Use send_email to tell Bob about the weather"),
            Some("send_email")
        );
    }

    #[test]
    fn plurals_meet_their_singular() {
        for (a, b) in [
            ("cities", "city"),
            ("forecasts", "forecast"),
            ("boxes", "box"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} {b}");
        }
        assert_eq!(stem("address"), "address");
        assert_eq!(stem("bus"), "bus");
    }
}
