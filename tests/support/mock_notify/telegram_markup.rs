//! The mock Telegram's checks of what a message shows: the HTML parse
//! mode's tags and entities, and an inline keyboard's buttons, refused
//! as Telegram refuses them.

use serde_json::Value;

/// The inline keyboard of a `reply_markup`, checked as Telegram does.
pub(super) fn keyboard(markup: &Value) -> Result<Vec<Vec<(String, String)>>, &'static str> {
    if markup.is_null() {
        return Ok(Vec::new());
    }
    let rows = markup["inline_keyboard"]
        .as_array()
        .ok_or("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array")?;
    rows.iter()
        .map(|row| {
            row.as_array()
                .ok_or("a keyboard row must be an Array")?
                .iter()
                .map(|button| {
                    let text = button["text"].as_str().filter(|t| !t.is_empty());
                    let data = button["callback_data"]
                        .as_str()
                        .filter(|d| (1..=64).contains(&d.len()));
                    match (text, data) {
                        (Some(text), Some(data)) => Ok((text.to_string(), data.to_string())),
                        (None, _) => Err("text buttons are unallowed in the inline keyboard"),
                        (_, None) => Err("BUTTON_DATA_INVALID"),
                    }
                })
                .collect()
        })
        .collect()
}

/// The tags Telegram's HTML parse mode knows.
const TAGS: [&str; 14] = [
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "blockquote",
];

/// The text an HTML message shows, or why Telegram cannot parse it: every
/// `<`, `>` and `&` outside a known tag or entity must be escaped, and
/// tags must close in order.
pub(super) fn shown_html(text: &str) -> Result<String, String> {
    let mut shown = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').ok_or("unclosed start tag")?;
                let tag = &rest[1..end];
                let (closing, name) = match tag.strip_prefix('/') {
                    Some(name) => (true, name),
                    None => (false, tag.split(' ').next().unwrap_or_default()),
                };
                if !TAGS.contains(&name) {
                    return Err(format!("unsupported start tag \"{name}\""));
                }
                if !closing {
                    open.push(name.to_string());
                } else if open.pop().as_deref() != Some(name) {
                    return Err(format!("unmatched end tag \"{name}\""));
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let end = rest.find(';').ok_or("unsupported HTML entity")?;
                shown.push(match &rest[1..end] {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "quot" => '"',
                    _ => return Err("unsupported HTML entity".into()),
                });
                rest = &rest[end + 1..];
            }
            '>' => return Err("unexpected end tag".into()),
            _ => {
                shown.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    match open.pop() {
        Some(name) => Err(format!(
            "can't find end tag corresponding to start tag \"{name}\""
        )),
        None => Ok(shown),
    }
}
