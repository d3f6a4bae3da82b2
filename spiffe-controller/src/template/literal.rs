//! Go's quoted string and character literals (`strconv.Unquote`, `strconv.UnquoteChar`), read
//! again from the template's text: `gotmpl`'s lexer accepts a newline or an unknown escape in
//! a string and reads `\xHH` and octal escapes as code points, where Go refuses the former and
//! makes bytes of the latter (`"\xc3\xa9"` is `é`).

/// Why a literal is refused: Go refuses it (the reason), or its bytes are not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Not Go syntax.
    Syntax(&'static str),
    /// A string of bytes that are not UTF-8 (Go takes it; what it prints would not be text).
    NotUtf8,
}

impl From<&'static str> for Refusal {
    fn from(reason: &'static str) -> Self {
        Refusal::Syntax(reason)
    }
}

/// One unquoted item: a byte (from `\x` or an octal escape) or a character.
enum Item {
    Byte(u8),
    Char(char),
}

/// Go's `UnquoteChar`: the first item of `s` (inside `quote` quotes) and the rest.
fn unquote_char(s: &str, quote: char) -> Result<(Item, &str), &'static str> {
    let mut chars = s.chars();
    let c = chars.next().ok_or("unterminated literal")?;
    if c == quote {
        return Err("empty character literal");
    }
    if c != '\\' {
        return Ok((Item::Char(c), chars.as_str()));
    }
    let e = chars.next().ok_or("unterminated escape")?;
    let simple = match e {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        '\\' => Some('\\'),
        '\'' | '"' if e == quote => Some(e),
        _ => None,
    };
    if let Some(v) = simple {
        return Ok((Item::Char(v), chars.as_str()));
    }
    let rest = chars.as_str();
    match e {
        'x' | 'u' | 'U' => {
            let n = match e {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let digits = rest
                .get(..n)
                .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or("bad hexadecimal escape")?;
            let v = u32::from_str_radix(digits, 16).map_err(|_| "bad hexadecimal escape")?;
            let tail = rest.get(n..).unwrap_or_default();
            if e == 'x' {
                let byte = u8::try_from(v).map_err(|_| "bad hexadecimal escape")?;
                return Ok((Item::Byte(byte), tail));
            }
            let c = char::from_u32(v).ok_or("escape of an invalid code point")?;
            Ok((Item::Char(c), tail))
        }
        '0'..='7' => {
            let digits = rest
                .get(..2)
                .filter(|d| d.bytes().all(|b| (b'0'..=b'7').contains(&b)))
                .ok_or("bad octal escape")?;
            let v =
                u32::from_str_radix(&format!("{e}{digits}"), 8).map_err(|_| "bad octal escape")?;
            let byte = u8::try_from(v).map_err(|_| "octal escape above 255")?;
            Ok((Item::Byte(byte), rest.get(2..).unwrap_or_default()))
        }
        _ => Err("unknown escape"),
    }
}

/// The literal `"..."` at the start of `text`, unquoted as Go does; it must read as UTF-8
/// (what it prints must be text, as with `slice`).
pub(super) fn string(text: &str) -> Result<String, Refusal> {
    let mut rest = text.strip_prefix('"').ok_or("not a quoted string")?;
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        if rest.starts_with('"') {
            break;
        }
        if rest.starts_with('\n') {
            return Err("newline in string".into());
        }
        let (item, tail) = unquote_char(rest, '"')?;
        match item {
            Item::Byte(b) => bytes.push(b),
            Item::Char(c) => {
                let mut buf = [0; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
        rest = tail;
    }
    String::from_utf8(bytes).map_err(|_| Refusal::NotUtf8)
}

/// The character constant `'...'` at the start of `text`, as Go reads it.
pub(super) fn character(text: &str) -> Result<u32, &'static str> {
    let body = text.strip_prefix('\'').ok_or("not a character constant")?;
    if body.starts_with('\n') {
        return Err("newline in character constant");
    }
    let (item, tail) = unquote_char(body, '\'')?;
    if !tail.starts_with('\'') {
        return Err("malformed character constant");
    }
    Ok(match item {
        Item::Byte(b) => u32::from(b),
        Item::Char(c) => u32::from(c),
    })
}
