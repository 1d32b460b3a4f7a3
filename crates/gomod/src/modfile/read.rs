//! The go.mod syntax (`modfile/read.go`): tokens, lines, `verb ( … )` blocks and comments,
//! with comments attached to the lines they belong to exactly as Go attaches them — the
//! `// indirect` marks, deprecation notices and retraction rationales depend on it.

use crate::uni::{self, decode_rune};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub byte: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Comment {
    pub start: Pos,
    pub token: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Comments {
    pub before: Vec<Comment>,
    pub suffix: Vec<Comment>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Line {
    pub comments: Comments,
    pub start: Pos,
    pub tokens: Vec<Vec<u8>>,
    pub end: Pos,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Block {
    pub comments: Comments,
    pub start: Pos,
    pub tokens: Vec<Vec<u8>>,
    pub lparen: (Pos, Comments),
    pub lines: Vec<Line>,
    pub rparen: (Pos, Comments),
}

#[derive(Debug, Clone)]
pub(crate) enum Stmt {
    Line(Line),
    Block(Block),
    Comments(Pos, Comments),
}

impl Stmt {
    fn comments(&mut self) -> &mut Comments {
        match self {
            Stmt::Line(l) => &mut l.comments,
            Stmt::Block(b) => &mut b.comments,
            Stmt::Comments(_, c) => c,
        }
    }
}

/// A syntax error, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub msg: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Eof,
    EolComment,
    Ident,
    Str,
    Comment,
    Char(u8),
}

impl Kind {
    fn is_eol(self) -> bool {
        matches!(self, Kind::Eof | Kind::EolComment | Kind::Char(b'\n'))
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    pos: Pos,
    end: Pos,
    text: Vec<u8>,
}

struct Input<'a> {
    data: &'a [u8],
    pos: Pos,
    token_start: usize,
    token: Token,
    suffix_comments: Vec<Comment>,
}

fn is_ident(c: char) -> bool {
    !matches!(c, ' ' | '(' | ')' | '[' | ']' | '{' | '}' | ',') && !uni::is_space(c) && uni::is_print(c)
}

impl<'a> Input<'a> {
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError { line: self.pos.line, msg: msg.into() })
    }

    fn rest(&self) -> &'a [u8] {
        &self.data[self.pos.byte..]
    }

    fn peek_rune(&self) -> char {
        decode_rune(self.rest()).0
    }

    fn read_rune(&mut self) -> char {
        let (c, n) = decode_rune(self.rest());
        if c == '\n' {
            self.pos.line += 1;
        }
        self.pos.byte += n;
        c
    }

    fn start_token(&mut self) {
        self.token_start = self.pos.byte;
        self.token.pos = self.pos;
    }

    fn end_token(&mut self, kind: Kind) {
        let mut text = &self.data[self.token_start..self.pos.byte];
        if matches!(kind, Kind::Comment | Kind::EolComment) {
            text = text.strip_suffix(b"\r\n").or_else(|| text.strip_suffix(b"\n")).unwrap_or(text);
        }
        self.token.kind = kind;
        self.token.text = text.to_vec();
        self.token.end = self.pos;
    }

    fn lex(&mut self) -> Result<Token, SyntaxError> {
        let tok = self.token.clone();
        self.read_token()?;
        Ok(tok)
    }

    fn peek(&self) -> Kind {
        self.token.kind
    }

    /// Skips blanks and reads the next token into `self.token` (`readToken`).
    fn read_token(&mut self) -> Result<(), SyntaxError> {
        while !self.rest().is_empty() {
            let c = self.peek_rune();
            if c == ' ' || c == '\t' || c == '\r' {
                self.read_rune();
                continue;
            }
            if self.rest().starts_with(b"//") {
                return self.read_comment();
            }
            if self.rest().starts_with(b"/*") {
                return self.err("mod files must use // comments (not /* */ comments)");
            }
            break;
        }
        self.start_token();
        if self.rest().is_empty() {
            self.end_token(Kind::Eof);
            return Ok(());
        }
        let c = self.peek_rune();
        match c {
            '\n' | '(' | ')' | '[' | ']' | '{' | '}' | ',' => {
                self.read_rune();
                self.end_token(Kind::Char(c as u8));
                return Ok(());
            }
            '"' | '`' => return self.read_string(c),
            _ => {}
        }
        if !is_ident(c) {
            return self.err(format!("unexpected input character {c:?}"));
        }
        while is_ident(self.peek_rune()) {
            if self.rest().starts_with(b"//") {
                break;
            }
            if self.rest().starts_with(b"/*") {
                return self.err("mod files must use // comments (not /* */ comments)");
            }
            self.read_rune();
        }
        self.end_token(Kind::Ident);
        Ok(())
    }

    fn read_comment(&mut self) -> Result<(), SyntaxError> {
        self.start_token();
        let line_start = self.data[..self.pos.byte].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let suffix = !uni::trim_space(&self.data[line_start..self.pos.byte]).is_empty();
        self.read_rune();
        self.read_rune();
        while !self.rest().is_empty() && self.read_rune() != '\n' {}
        if !suffix {
            self.end_token(Kind::Comment);
            return Ok(());
        }
        self.end_token(Kind::EolComment);
        self.suffix_comments.push(Comment { start: self.token.pos, token: self.token.text.clone() });
        Ok(())
    }

    fn read_string(&mut self, quote: char) -> Result<(), SyntaxError> {
        self.read_rune();
        loop {
            if self.rest().is_empty() {
                self.pos = self.token.pos;
                return self.err("unexpected EOF in string");
            }
            if self.peek_rune() == '\n' {
                return self.err("unexpected newline in string");
            }
            let c = self.read_rune();
            if c == quote {
                break;
            }
            if c == '\\' && quote != '`' {
                if self.rest().is_empty() {
                    self.pos = self.token.pos;
                    return self.err("unexpected EOF in string");
                }
                self.read_rune();
            }
        }
        self.end_token(Kind::Str);
        Ok(())
    }
}

/// Parses go.mod syntax into statements, comments attached.
pub(crate) fn parse(data: &[u8]) -> Result<Vec<Stmt>, SyntaxError> {
    let empty = Token { kind: Kind::Eof, pos: Pos::default(), end: Pos::default(), text: Vec::new() };
    let mut input =
        Input { data, pos: Pos { line: 1, byte: 0 }, token_start: 0, token: empty, suffix_comments: Vec::new() };
    input.read_token()?;
    let mut stmts = parse_file(&mut input)?;
    assign_suffix_comments(&mut stmts, std::mem::take(&mut input.suffix_comments));
    Ok(stmts)
}

fn parse_file(input: &mut Input) -> Result<Vec<Stmt>, SyntaxError> {
    let mut stmts = Vec::new();
    let mut cb: Option<(Pos, Comments)> = None;
    loop {
        match input.peek() {
            Kind::Char(b'\n') => {
                input.lex()?;
                if let Some((p, c)) = cb.take() {
                    stmts.push(Stmt::Comments(p, c));
                }
            }
            Kind::Comment => {
                let tok = input.lex()?;
                let (_, c) = cb.get_or_insert_with(|| (tok.pos, Comments::default()));
                c.before.push(Comment { start: tok.pos, token: tok.text });
            }
            Kind::Eof => {
                if let Some((p, c)) = cb.take() {
                    stmts.push(Stmt::Comments(p, c));
                }
                return Ok(stmts);
            }
            _ => {
                stmts.push(parse_stmt(input)?);
                if let Some((_, c)) = cb.take() {
                    if let Some(last) = stmts.last_mut() {
                        last.comments().before = c.before;
                    }
                }
            }
        }
    }
}

fn parse_stmt(input: &mut Input) -> Result<Stmt, SyntaxError> {
    let tok = input.lex()?;
    let (start, mut end) = (tok.pos, tok.end);
    let mut tokens = vec![tok.text];
    loop {
        let tok = input.lex()?;
        if tok.kind.is_eol() {
            return Ok(Stmt::Line(Line { comments: Comments::default(), start, tokens, end }));
        }
        if tok.kind != Kind::Char(b'(') {
            tokens.push(tok.text);
            end = tok.end;
            continue;
        }
        let next = input.peek();
        if next.is_eol() {
            return parse_block(input, start, tokens, tok.pos).map(Stmt::Block);
        }
        if next == Kind::Char(b')') {
            let rparen = input.lex()?;
            if input.peek().is_eol() {
                input.lex()?;
                let (lparen, rparen) = ((tok.pos, Comments::default()), (rparen.pos, Comments::default()));
                return Ok(Stmt::Block(Block { start, tokens, lparen, rparen, ..Block::default() }));
            }
            tokens.push(tok.text);
            tokens.push(rparen.text);
        } else {
            tokens.push(tok.text);
        }
    }
}

fn parse_block(input: &mut Input, start: Pos, tokens: Vec<Vec<u8>>, lparen: Pos) -> Result<Block, SyntaxError> {
    let mut x = Block { start, tokens, lparen: (lparen, Comments::default()), ..Block::default() };
    let mut comments: Vec<Comment> = Vec::new();
    loop {
        match input.peek() {
            Kind::EolComment => {
                input.lex()?;
            }
            Kind::Char(b'\n') => {
                input.lex()?;
                let last_blank = comments.last().is_some_and(|c| c.token.is_empty());
                if (comments.is_empty() && !x.lines.is_empty()) || (!comments.is_empty() && !last_blank) {
                    comments.push(Comment::default());
                }
            }
            Kind::Comment => {
                let tok = input.lex()?;
                comments.push(Comment { start: tok.pos, token: tok.text });
            }
            Kind::Eof => return input.err(format!("syntax error (unterminated block started at line {})", start.line)),
            Kind::Char(b')') => {
                let rparen = input.lex()?;
                if comments.len() == 1 && comments[0] == Comment::default() {
                    comments.clear();
                }
                x.rparen = (rparen.pos, Comments { before: comments, suffix: Vec::new() });
                if !input.peek().is_eol() {
                    return input.err("syntax error (expected newline after closing paren)");
                }
                input.lex()?;
                return Ok(x);
            }
            _ => {
                let mut l = parse_line(input)?;
                l.comments.before = std::mem::take(&mut comments);
                x.lines.push(l);
            }
        }
    }
}

fn parse_line(input: &mut Input) -> Result<Line, SyntaxError> {
    let tok = input.lex()?;
    if tok.kind.is_eol() {
        return input.err("internal parse error: parseLine at end of line");
    }
    let (start, mut end) = (tok.pos, tok.end);
    let mut tokens = vec![tok.text];
    loop {
        let tok = input.lex()?;
        if tok.kind.is_eol() {
            return Ok(Line { comments: Comments::default(), start, tokens, end });
        }
        tokens.push(tok.text);
        end = tok.end;
    }
}

/// Gives each end-of-line comment to the last single-line expression that ends before it
/// (`assignComments`, walking the expressions in reverse post-order).
fn assign_suffix_comments(stmts: &mut [Stmt], mut suffix: Vec<Comment>) {
    let one = |p: Pos| Pos { line: p.line, byte: p.byte + 1 };
    let mut post: Vec<(Pos, Pos, &mut Comments)> = Vec::new();
    for s in stmts.iter_mut() {
        match s {
            Stmt::Line(l) => post.push((l.start, l.end, &mut l.comments)),
            Stmt::Comments(p, c) => post.push((*p, *p, c)),
            Stmt::Block(b) => {
                let (start, end) = (b.start, one(b.rparen.0));
                post.push((b.lparen.0, one(b.lparen.0), &mut b.lparen.1));
                for l in b.lines.iter_mut() {
                    post.push((l.start, l.end, &mut l.comments));
                }
                post.push((b.rparen.0, one(b.rparen.0), &mut b.rparen.1));
                post.push((start, end, &mut b.comments));
            }
        }
    }
    for (start, end, comments) in post.into_iter().rev() {
        if start.line != end.line {
            continue;
        }
        while suffix.last().is_some_and(|c| end.byte <= c.start.byte) {
            if let Some(c) = suffix.pop() {
                comments.suffix.push(c);
            }
        }
        comments.suffix.reverse();
    }
}
