//! Values in scenario files: quoted strings (with `\xNN` escapes, `*N`
//! repetition and `+` concatenation), field tables `{key=value, ...}`, arrays
//! `[...]`, typed values `TAG:value` (AMQP field-table type tags) and bare words.
//! Field tables rendered in golden files use the same syntax, always typed.

use std::fmt::Write;

/// A parsed scenario value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A quoted string (raw bytes).
    Str(Vec<u8>),
    /// An unquoted word: a number, a boolean or a plain name.
    Word(String),
    /// A field table, entries in order.
    Table(Vec<(Vec<u8>, Value)>),
    /// A field array.
    Array(Vec<Value>),
    /// A value with an explicit AMQP field type tag.
    Typed(char, Box<Value>),
}

/// A parse error with the position it was found at.
#[derive(Debug)]
pub struct ParseError(pub String);

/// A cursor over one line of a scenario file.
pub struct Cursor<'a> {
    chars: Vec<char>,
    pos: usize,
    _line: &'a str,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `line`.
    pub fn new(line: &'a str) -> Self {
        Cursor {
            chars: line.chars().collect(),
            pos: 0,
            _line: line,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += 1;
        c
    }

    /// Skips spaces; true if something is left.
    pub fn skip_spaces(&mut self) -> bool {
        while self.peek() == Some(' ') || self.peek() == Some('\t') {
            self.pos += 1;
        }
        self.peek().is_some()
    }

    fn err(&self, what: &str) -> ParseError {
        let rest: String = self.chars[self.pos.min(self.chars.len())..]
            .iter()
            .collect();
        ParseError(format!("{what} at {:?}", rest))
    }

    /// A bare word: everything up to a space or one of `=,}]`.
    pub fn word(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == ' ' || c == '=' || c == ',' || c == '}' || c == ']' || c == '\t' {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("expected a word"));
        }
        Ok(self.chars[start..self.pos].iter().collect())
    }

    /// Consumes `c` or fails.
    pub fn expect(&mut self, c: char) -> Result<(), ParseError> {
        if self.bump() == Some(c) {
            Ok(())
        } else {
            self.pos -= 1;
            Err(self.err(&format!("expected {c:?}")))
        }
    }

    /// One value.
    pub fn value(&mut self) -> Result<Value, ParseError> {
        match self.peek() {
            Some('"') => Ok(Value::Str(self.string_expr()?)),
            Some('{') => self.table(),
            Some('[') => self.array(),
            Some(_) => {
                let tagged = self.chars.get(self.pos + 1) == Some(&':')
                    && self.peek().is_some_and(|c| c.is_ascii_alphabetic());
                if tagged {
                    let tag = self.bump().unwrap_or(' ');
                    self.pos += 1;
                    if tag == 'V' {
                        return Ok(Value::Typed(tag, Box::new(Value::Word(String::new()))));
                    }
                    Ok(Value::Typed(tag, Box::new(self.value()?)))
                } else {
                    Ok(Value::Word(self.word()?))
                }
            }
            None => Err(self.err("expected a value")),
        }
    }

    fn string_expr(&mut self) -> Result<Vec<u8>, ParseError> {
        let mut out = Vec::new();
        loop {
            let piece = self.quoted()?;
            let times = if self.peek() == Some('*') {
                self.pos += 1;
                let n = self.word()?;
                n.parse::<usize>()
                    .map_err(|_| self.err("bad repeat count"))?
            } else {
                1
            };
            for _ in 0..times {
                out.extend_from_slice(&piece);
            }
            if self.peek() == Some('+') {
                self.pos += 1;
                continue;
            }
            return Ok(out);
        }
    }

    fn quoted(&mut self) -> Result<Vec<u8>, ParseError> {
        self.expect('"')?;
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => return Err(self.err("unterminated string")),
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('n') => out.push(b'\n'),
                    Some('r') => out.push(b'\r'),
                    Some('t') => out.push(b'\t'),
                    Some('0') => out.push(0),
                    Some('\\') => out.push(b'\\'),
                    Some('"') => out.push(b'"'),
                    Some('x') => {
                        let hex: String = [self.bump(), self.bump()].iter().flatten().collect();
                        let byte = u8::from_str_radix(&hex, 16).map_err(|_| self.err("bad \\x"))?;
                        out.push(byte);
                    }
                    _ => return Err(self.err("bad escape")),
                },
                Some(c) => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
    }

    fn table(&mut self) -> Result<Value, ParseError> {
        self.expect('{')?;
        let mut entries = Vec::new();
        loop {
            self.skip_spaces();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Value::Table(entries));
            }
            let key = if self.peek() == Some('"') {
                self.string_expr()?
            } else {
                self.word()?.into_bytes()
            };
            self.expect('=')?;
            let value = self.value()?;
            entries.push((key, value));
            self.skip_spaces();
            if self.peek() == Some(',') {
                self.pos += 1;
            }
        }
    }

    fn array(&mut self) -> Result<Value, ParseError> {
        self.expect('[')?;
        let mut items = Vec::new();
        loop {
            self.skip_spaces();
            if self.peek() == Some(']') {
                self.pos += 1;
                return Ok(Value::Array(items));
            }
            items.push(self.value()?);
            self.skip_spaces();
            if self.peek() == Some(',') {
                self.pos += 1;
            }
        }
    }
}

/// Renders bytes as a quoted string: printable ASCII as is, the rest `\xNN`;
/// runs of more than 8 equal characters as `"c"*N` to keep long names short.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    let mut open = false;
    while i < bytes.len() {
        let b = bytes[i];
        let run = bytes[i..].iter().take_while(|&&x| x == b).count();
        if run > 8 {
            if open {
                out.push('"');
                out.push('+');
                open = false;
            } else if !out.is_empty() {
                out.push('+');
            }
            let _ = write!(out, "\"{}\"*{run}", escape_byte(b));
            i += run;
            continue;
        }
        if !open {
            if !out.is_empty() {
                out.push('+');
            }
            out.push('"');
            open = true;
        }
        out.push_str(&escape_byte(b));
        i += 1;
    }
    if open {
        out.push('"');
    }
    if out.is_empty() {
        out.push_str("\"\"");
    }
    out
}

fn escape_byte(b: u8) -> String {
    match b {
        b'"' => "\\\"".into(),
        b'\\' => "\\\\".into(),
        0x20..=0x7e => (b as char).to_string(),
        _ => format!("\\x{b:02x}"),
    }
}
