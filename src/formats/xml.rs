//! Shared plumbing for the ISO 20022 **readers** ([`super::pain002`], [`super::camt`]) and the
//! file-kind sniffer ([`super::detect`]): a thin cursor over `quick_xml::Reader<R: BufRead>` that
//! knows where it is in the document, plus the value parsers (amounts, dates, indicators) every
//! message needs.
//!
//! # What the cursor does for a reader
//!
//! [`XmlCursor::next_node`] yields only element starts and ends ([`Node`]); text, CDATA and character
//! references are gathered behind the scenes, so that at the end of a leaf element
//! [`XmlCursor::text`] is its whole, trimmed content (`A &amp; B` → `A & B`,
//! `<![CDATA[…]]>` kept literally). The cursor keeps the stack of open elements, so a reader
//! asks "am I at `StsRsnInf/Rsn/Cd` below the `TxInfAndSts` I am filling?" with
//! [`XmlCursor::at`] instead of keeping its own stack, and every error can name the place:
//! `Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[2]/TxInfAndSts[5]/OrgnlEndToEndId`.
//! Positions count same-name siblings from 1; an index is written when it is above 1, and
//! always for the repeating containers a reader names (so `TxInfAndSts[1]` is never ambiguous).
//!
//! # Why local names only (namespace-agnostic)
//!
//! Elements are matched by their **local name**: `<Document xmlns="urn:…pain.002.001.03">`,
//! `<p:Document xmlns:p="…">` and a `<Document>` with no namespace at all read the same. The
//! namespace URN is remembered ([`XmlCursor::root_namespace`]) to tell versions apart, never
//! required: real files get it wrong (the Cross River sample declares `Xmlns=` with a capital X,
//! which is no namespace declaration at all), and the element names are what the schema versions
//! we read have in common. Nothing in these messages uses two namespaces at once, so dropping the
//! prefix loses no information.
//!
//! # Why a DOCTYPE is refused
//!
//! ISO 20022 messages never carry a document type declaration; the schemas are XSDs. A DTD is
//! the one place an XML file can declare entities, and entities are how the classic attacks work:
//! external entities (XXE: `<!ENTITY x SYSTEM "file:///etc/passwd">`) and exponential expansion
//! ("billion laughs"). quick-xml never expands declared entities, but the safe and clear answer
//! to a file from outside is to refuse any `<!DOCTYPE` outright ([`XmlError::Doctype`]) — and a
//! reference to an entity that is not one of the five predefined ones (`&lt;` `&gt;` `&amp;`
//! `&apos;` `&quot;`) or a character reference is an error too, never silently dropped.
//!
//! # Other refusals
//!
//! - A declaration naming an encoding other than UTF-8 (`encoding="GBK"`): quick-xml is built
//!   without its `encoding` feature, so such a file is refused with the encoding's name rather
//!   than read as mojibake. Bytes that are not UTF-8 are an error at the position they occur.
//! - A **truncated** file (the input ends before the root element closes) is an error naming
//!   the element it ended in, never a partial success: a cut status report would otherwise look
//!   like a short one.
//! - Content after the root element, a second root, text before the root, nesting deeper than
//!   [`MAX_DEPTH`], a text longer than [`MAX_TEXT`] bytes.

use crate::domain::Fen;
use chrono::NaiveDate;
use quick_xml::events::Event;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::BufRead;
use std::str::FromStr;

/// The deepest element nesting accepted. ISO 20022 messages nest about 15 deep; anything far
/// beyond that is not a bank file.
pub const MAX_DEPTH: usize = 128;

/// The longest element text accepted, in bytes. The longest ISO text type is `Max500Text`
/// (ABN AMRO's sample breaks even `Max140Text` with 204 characters, so there is no length check
/// at schema level), this only stops a runaway text from eating memory.
pub const MAX_TEXT: usize = 1 << 20;

/// Distinct element names remembered; the ISO catalogue has fewer than 2,000. Past this a file
/// is refused (every distinct name costs memory).
const MAX_NAMES: usize = 8_192;

/// Distinct child names whose sibling counts are tracked per element (for the `[n]` in paths).
/// Past this, further names get no index; it keeps a hostile file from making lookups quadratic.
const MAX_CHILD_NAMES: usize = 64;

/// Why an XML document could not be read. Every variant says where: the element path or the
/// byte offset in the input. The texts are Chinese (finance staff read them in `ingest`, the
/// quarantine's `.reason.txt`, `status` and the alerts); element paths, codes and values stay as
/// they are, and a library's own error is appended last as the technical cause (`技术原因：…`).
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("第 {pos} 字节{}：XML 格式错误；技术原因：{source}", at(.path))]
    Syntax {
        pos: u64,
        path: String,
        #[source]
        source: quick_xml::Error,
    },

    #[error(
        "第 {pos} 字节：文件含有 DOCTYPE（文档类型声明）；为防范 XXE 与实体膨胀攻击，含 DOCTYPE 或实体声明的文件\
         一律拒收，ISO 20022 文件从不需要它"
    )]
    Doctype { pos: u64 },

    #[error(
        "{path}：引用了未声明的实体 `&{name};`；只读取 XML 的五个预定义实体和字符引用（DOCTYPE 与实体声明一律拒收）"
    )]
    UnknownEntity { path: String, name: String },

    #[error(
        "第 {pos} 字节：XML 声明的编码为 encoding=\"{encoding}\"，只读取 UTF-8 编码的文件；请先转换\
         （例如 `iconv -f {encoding} -t UTF-8`）"
    )]
    Encoding { pos: u64, encoding: String },

    #[error(
        "文件以 UTF-16 字节顺序标记（BOM）开头，只读取 UTF-8 编码的文件；请先转换（例如 `iconv -f UTF-16 -t UTF-8`）"
    )]
    Utf16,

    #[error("文件在第 {pos} 字节处、{path} 之内结束：文件不完整（被截断）")]
    Truncated { pos: u64, path: String },

    #[error("文件在第 {pos} 字节处、一个标记的中间结束{}：文件不完整（被截断）；技术原因：{source}", at(.path))]
    TruncatedInMarkup {
        pos: u64,
        path: String,
        #[source]
        source: quick_xml::Error,
    },

    #[error("文件没有根元素（为空，或只有声明和注释）")]
    NoRoot,

    #[error("第 {pos} 字节：根元素 {root} 结束之后还有{what}；一个文件只能有一个根元素")]
    AfterRoot {
        pos: u64,
        root: String,
        what: &'static str,
    },

    #[error("第 {pos} 字节：根元素之前有文字；这不像是 XML 文件")]
    TextBeforeRoot { pos: u64 },

    #[error("{path}：元素嵌套超过 {MAX_DEPTH} 层")]
    TooDeep { path: String },

    #[error("{path}：文字长度超过 {MAX_TEXT} 字节")]
    TextTooLong { path: String },

    #[error("第 {pos} 字节：不同的元素名超过 {MAX_NAMES} 个")]
    TooManyNames { pos: u64 },

    #[error("{path}：{reason}")]
    Invalid { path: String, reason: String },

    #[error("{path}：缺少 {element}；{why}")]
    Missing {
        path: String,
        element: &'static str,
        why: &'static str,
    },
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("（位于 {path}）")
    }
}

/// A value read from a file, for messages: in backquotes, control characters escaped, so the
/// reader sees exactly what the file says (and the English scanner of the tests knows it for data).
pub fn quoted(value: &str) -> String {
    format!("`{}`", value.escape_debug())
}

/// Why a whole-message read stopped: the XML, the wrong kind of message, or the caller's own
/// callback. Each reader has an alias for it ([`super::pain002::Pain002Error`],
/// [`super::camt::CamtError`]). `E` is the callback's error type (use
/// [`std::convert::Infallible`] for a callback that cannot fail); it needs only `Debug` and
/// `Display`, so `anyhow::Error` works too.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    #[error(transparent)]
    Xml(#[from] XmlError),

    #[error("{path}：这是 {found}，不是 {expected}")]
    WrongMessage {
        path: String,
        expected: &'static str,
        found: String,
    },

    #[error("读到 {path} 时中止：{cause}")]
    Callback { path: String, cause: E },
}

/// What [`XmlCursor::next_node`] found. Between a `Start` and its `End` the element is the
/// *current* one: [`XmlCursor::name`], [`XmlCursor::path`], [`XmlCursor::attr`] and
/// [`XmlCursor::at`] describe it, at its `End` [`XmlCursor::text`] is its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Start,
    End,
    /// The root element closed and the input ended cleanly.
    Eof,
}

/// One open element. Frames are reused as the cursor goes up and down, so reading allocates
/// only while the document is deeper or more varied than anything seen before.
#[derive(Debug, Default)]
struct Frame {
    /// Interned local name.
    name: u32,
    /// 1-based position among same-name siblings; 0 when not tracked.
    index: u32,
    /// Sibling counts of this element's children, by interned name.
    children: Vec<(u32, u32)>,
    /// Attributes as (interned local name, byte range in `attr_text`).
    attrs: Vec<(u32, u32, u32)>,
    attr_text: String,
}

/// A streaming, namespace-agnostic XML cursor; see the module documentation.
pub struct XmlCursor<R: BufRead> {
    reader: quick_xml::Reader<R>,
    buf: Vec<u8>,
    st: Doc,
}

/// Everything the cursor knows besides the quick-xml reader and its event buffer (kept apart so
/// that an event borrowed from the buffer and this state can be used together).
struct Doc {
    ids: HashMap<Box<str>, u32>,
    /// A small direct-mapped cache in front of `ids` (see [`Doc::intern`]).
    recent: [u32; 256],
    names: Vec<Box<str>>,
    frames: Vec<Frame>,
    depth: usize,
    /// The last event was an `End`: pop that frame on the next call.
    pending_pop: bool,
    text: String,
    started: bool,
    finished: bool,
    root_namespace: Option<String>,
    root_name: String,
    always_indexed: &'static [&'static str],
    /// The first bytes were looked at for a UTF-16 byte-order mark.
    bom_checked: bool,
}

impl<R: BufRead> XmlCursor<R> {
    /// A cursor over `input`. `always_indexed` lists the repeating containers whose position is
    /// always written in paths, e.g. `["TxInfAndSts", "Ntry"]`.
    pub fn new(input: R, always_indexed: &'static [&'static str]) -> Self {
        let mut reader = quick_xml::Reader::from_reader(input);
        let config = reader.config_mut();
        // `<a/>` arrives as a Start and an End, so readers see one shape.
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.trim_text(false);
        XmlCursor {
            reader,
            buf: Vec::with_capacity(1024),
            st: Doc {
                ids: HashMap::new(),
                recent: [u32::MAX; 256],
                names: Vec::new(),
                frames: Vec::new(),
                depth: 0,
                pending_pop: false,
                text: String::new(),
                started: false,
                finished: false,
                root_namespace: None,
                root_name: String::new(),
                always_indexed,
                bom_checked: false,
            },
        }
    }

    /// The next element start or end; see [`Node`].
    pub fn next_node(&mut self) -> Result<Node, XmlError> {
        if !self.st.bom_checked {
            self.st.bom_checked = true;
            // quick-xml (without its `encoding` feature) would only say "invalid UTF-8 at 0".
            if let Ok(head) = self.reader.get_mut().fill_buf()
                && (head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]))
            {
                return Err(XmlError::Utf16);
            }
        }
        if self.st.pending_pop {
            self.st.pending_pop = false;
            self.st.depth -= 1;
            self.st.text.clear();
            if self.st.depth == 0 {
                self.st.finished = true;
            }
        }
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(source) => {
                    let pos = self.reader.error_position();
                    let path = self.st.path();
                    // Every `Unclosed…` syntax error means the input ended inside markup.
                    let at_eof = matches!(&source, quick_xml::Error::Syntax(e)
                        if !matches!(e, quick_xml::errors::SyntaxError::InvalidBangMarkup));
                    return Err(if at_eof {
                        XmlError::TruncatedInMarkup { pos, path, source }
                    } else {
                        XmlError::Syntax { pos, path, source }
                    });
                }
            };
            match event {
                Event::Start(start) => {
                    if self.st.finished {
                        return Err(XmlError::AfterRoot {
                            pos: self.reader.buffer_position(),
                            root: self.st.root_name.clone(),
                            what: "元素",
                        });
                    }
                    if self.st.depth >= MAX_DEPTH {
                        return Err(XmlError::TooDeep {
                            path: self.st.path(),
                        });
                    }
                    let qname = start.name();
                    let (local, prefix) = qname.decompose();
                    let id = self
                        .st
                        .intern(local.as_ref(), self.reader.buffer_position())?;
                    // Index among same-name siblings, counted in the parent.
                    let index = match self.st.depth.checked_sub(1) {
                        Some(parent) => sibling_index(&mut self.st.frames[parent].children, id),
                        None => 1,
                    };
                    if self.st.frames.len() <= self.st.depth {
                        self.st.frames.push(Frame::default());
                    }
                    let mut attrs = Vec::new();
                    let mut attr_text = String::new();
                    {
                        let frame = &mut self.st.frames[self.st.depth];
                        std::mem::swap(&mut attrs, &mut frame.attrs);
                        std::mem::swap(&mut attr_text, &mut frame.attr_text);
                    }
                    attrs.clear();
                    attr_text.clear();
                    let mut root_namespace = None;
                    for attr in start.attributes().with_checks(false) {
                        let attr = match attr {
                            Ok(attr) => attr,
                            Err(e) => {
                                return Err(XmlError::Syntax {
                                    pos: self.reader.buffer_position(),
                                    path: self.st.path(),
                                    source: e.into(),
                                });
                            }
                        };
                        let key = attr.key.as_ref();
                        if self.st.depth == 0 {
                            // The root's own namespace: `xmlns` for an unprefixed root,
                            // `xmlns:p` for `<p:Document>`. `Xmlns` (Cross River) is neither.
                            let wanted = match prefix {
                                None => key == "xmlns",
                                Some(p) => key.strip_prefix("xmlns:") == Some(p.as_ref()),
                            };
                            if wanted {
                                root_namespace = Some(attr.value.trim().to_string());
                            }
                        }
                        if key == "xmlns" || key.starts_with("xmlns:") {
                            continue;
                        }
                        let (attr_local, _) = attr.key.decompose();
                        let attr_id = self
                            .st
                            .intern(attr_local.as_ref(), self.reader.buffer_position())?;
                        let value = match attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        {
                            Ok(v) => v,
                            Err(source) => {
                                return Err(XmlError::Syntax {
                                    pos: self.reader.buffer_position(),
                                    path: self.st.path(),
                                    source,
                                });
                            }
                        };
                        let from = attr_text.len() as u32;
                        attr_text.push_str(&value);
                        attrs.push((attr_id, from, attr_text.len() as u32));
                    }
                    if self.st.depth == 0 {
                        self.st.started = true;
                        self.st.root_namespace = root_namespace;
                        self.st.root_name = local.as_ref().to_string();
                    }
                    let frame = &mut self.st.frames[self.st.depth];
                    frame.name = id;
                    frame.index = index;
                    frame.children.clear();
                    frame.attrs = attrs;
                    frame.attr_text = attr_text;
                    self.st.depth += 1;
                    self.st.text.clear();
                    return Ok(Node::Start);
                }
                Event::End(_) => {
                    // quick-xml has checked that the names match; depth ≥ 1 here.
                    if self.st.depth == 0 {
                        return Err(XmlError::AfterRoot {
                            pos: self.reader.buffer_position(),
                            root: self.st.root_name.clone(),
                            what: "结束标记",
                        });
                    }
                    self.st.pending_pop = true;
                    return Ok(Node::End);
                }
                Event::Empty(_) => {
                    // Not produced with `expand_empty_elements`; handled for completeness.
                    continue;
                }
                Event::Text(text) => {
                    let content = text.xml10_content();
                    if self.st.depth == 0 {
                        if content.trim().is_empty() {
                            continue;
                        }
                        if self.st.finished {
                            return Err(XmlError::AfterRoot {
                                pos: self.reader.buffer_position(),
                                root: self.st.root_name.clone(),
                                what: "文字",
                            });
                        }
                        return Err(XmlError::TextBeforeRoot {
                            pos: self.reader.buffer_position(),
                        });
                    }
                    self.st.push_text(&content)?;
                }
                Event::CData(data) => {
                    if self.st.depth == 0 {
                        return Err(XmlError::TextBeforeRoot {
                            pos: self.reader.buffer_position(),
                        });
                    }
                    let content = data.xml10_content();
                    self.st.push_text(&content)?;
                }
                Event::GeneralRef(reference) => {
                    if self.st.depth == 0 {
                        return Err(XmlError::TextBeforeRoot {
                            pos: self.reader.buffer_position(),
                        });
                    }
                    let ch = match reference.resolve_char_ref() {
                        Ok(Some(ch)) => ch,
                        Ok(None) => match &*reference {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => {
                                return Err(XmlError::UnknownEntity {
                                    path: self.st.path(),
                                    name: other.to_string(),
                                });
                            }
                        },
                        Err(source) => {
                            return Err(XmlError::Syntax {
                                pos: self.reader.buffer_position(),
                                path: self.st.path(),
                                source,
                            });
                        }
                    };
                    let mut utf8 = [0u8; 4];
                    let s: &str = ch.encode_utf8(&mut utf8);
                    self.st.push_text(s)?;
                }
                Event::Decl(decl) => {
                    if let Some(Ok(encoding)) = decl.encoding() {
                        let e = encoding.trim();
                        if !e.eq_ignore_ascii_case("utf-8") && !e.eq_ignore_ascii_case("utf8") {
                            return Err(XmlError::Encoding {
                                pos: self.reader.buffer_position(),
                                encoding: e.to_string(),
                            });
                        }
                    }
                }
                Event::DocType(_) => {
                    return Err(XmlError::Doctype {
                        pos: self.reader.buffer_position(),
                    });
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => {
                    if self.st.depth > 0 {
                        return Err(XmlError::Truncated {
                            pos: self.reader.buffer_position(),
                            path: self.st.path(),
                        });
                    }
                    if !self.st.started {
                        return Err(XmlError::NoRoot);
                    }
                    return Ok(Node::Eof);
                }
            }
        }
    }

    /// How many elements are open, counting the current one (the root is depth 1).
    pub fn depth(&self) -> usize {
        self.st.depth
    }

    /// The local name of the current element (empty before the root).
    pub fn name(&self) -> &str {
        match self.st.depth.checked_sub(1) {
            Some(top) => &self.st.names[self.st.frames[top].name as usize],
            None => "",
        }
    }

    /// Whether the current element sits exactly at `rel` below the element open at depth
    /// `base` (the root is depth 1): `at(d, &["StsRsnInf", "Rsn", "Cd"])`. `at(0, &["Document"])`
    /// is the root itself.
    pub fn at(&self, base: usize, rel: &[&str]) -> bool {
        if self.st.depth != base + rel.len() {
            return false;
        }
        // Leaf first: siblings share their parents, so a mismatch shows at the end.
        self.st.frames[base..self.st.depth]
            .iter()
            .zip(rel)
            .rev()
            .all(|(frame, want)| &*self.st.names[frame.name as usize] == *want)
    }

    /// Whether the element open at `depth` (1 = root) has the local name `name`.
    pub fn name_at(&self, depth: usize, name: &str) -> bool {
        depth >= 1
            && depth <= self.st.depth
            && &*self.st.names[self.st.frames[depth - 1].name as usize] == name
    }

    /// The current element's text content, trimmed; meaningful at its [`Node::End`] for a leaf
    /// element (an element with children has only the whitespace between them).
    pub fn text(&self) -> &str {
        self.st.text.trim()
    }

    /// The current element's text as an owned string, `None` when empty.
    pub fn text_opt(&self) -> Option<String> {
        let t = self.text();
        if t.is_empty() {
            None
        } else {
            Some(t.to_string())
        }
    }

    /// An attribute of the current element, by local name (`Ccy`).
    pub fn attr(&self, name: &str) -> Option<&str> {
        let frame = &self.st.frames[self.st.depth.checked_sub(1)?];
        frame.attrs.iter().find_map(|&(id, from, to)| {
            (&*self.st.names[id as usize] == name)
                .then(|| frame.attr_text.get(from as usize..to as usize))
                .flatten()
        })
    }

    /// The namespace URN the root element declares for itself, if it does.
    pub fn root_namespace(&self) -> Option<&str> {
        self.st.root_namespace.as_deref()
    }

    /// The path of the current element for messages:
    /// `Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[2]/TxInfAndSts[5]/OrgnlEndToEndId`.
    pub fn path(&self) -> String {
        self.st.path()
    }

    /// The byte offset reached in the input.
    pub fn position(&self) -> u64 {
        self.reader.buffer_position()
    }

    /// An [`XmlError::Invalid`] for the current element.
    pub fn invalid(&self, reason: impl Into<String>) -> XmlError {
        XmlError::Invalid {
            path: self.path(),
            reason: reason.into(),
        }
    }

    /// The current element's text as an amount in fen, or an error naming the element.
    pub fn amount(&self) -> Result<Fen, XmlError> {
        parse_amount(self.text()).map_err(|reason| self.invalid(reason))
    }

    /// The current element's text as a date (`ISODate`, or the date part of an `ISODateTime`).
    pub fn date(&self) -> Result<NaiveDate, XmlError> {
        parse_date(self.text()).map_err(|reason| self.invalid(reason))
    }

    /// The current element's text as a non-negative integer (`Max15NumericText`, `Number`).
    pub fn count(&self) -> Result<u64, XmlError> {
        parse_count(self.text()).map_err(|reason| self.invalid(reason))
    }

    /// The current element's text as a `CreditDebitCode`: `CRDT` → true, `DBIT` → false.
    pub fn credit_debit(&self) -> Result<bool, XmlError> {
        parse_credit_debit(self.text()).map_err(|reason| self.invalid(reason))
    }

    /// The current element's text as an `xs:boolean` (`true`/`false`/`1`/`0`).
    pub fn boolean(&self) -> Result<bool, XmlError> {
        parse_bool(self.text()).map_err(|reason| self.invalid(reason))
    }

    /// The current element's text as an exact decimal (`DecimalNumber`, e.g. `OrgnlCtrlSum`).
    pub fn decimal(&self) -> Result<Decimal, XmlError> {
        parse_decimal(self.text()).map_err(|reason| self.invalid(reason))
    }
}

impl Doc {
    fn push_text(&mut self, s: &str) -> Result<(), XmlError> {
        if self.text.len() + s.len() > MAX_TEXT {
            return Err(XmlError::TextTooLong { path: self.path() });
        }
        self.text.push_str(s);
        Ok(())
    }

    /// The id of an element name. A file repeats a few dozen names millions of times, so a
    /// 256-slot cache indexed by length, first and last byte answers almost every lookup with
    /// one string comparison; a miss (or a file crafted to collide) falls back to the SipHash
    /// map, so the worst case stays a hash lookup.
    fn intern(&mut self, name: &str, pos: u64) -> Result<u32, XmlError> {
        let bytes = name.as_bytes();
        let slot = match (bytes.first(), bytes.last()) {
            (Some(&first), Some(&last)) => {
                (bytes.len().wrapping_mul(31)
                    ^ usize::from(first).wrapping_mul(7)
                    ^ usize::from(last))
                    & 0xFF
            }
            _ => 0,
        };
        let cached = self.recent[slot];
        if cached != u32::MAX && &*self.names[cached as usize] == name {
            return Ok(cached);
        }
        let id = match self.ids.get(name) {
            Some(&id) => id,
            None => {
                if self.names.len() >= MAX_NAMES {
                    return Err(XmlError::TooManyNames { pos });
                }
                let id = self.names.len() as u32;
                self.names.push(name.into());
                self.ids.insert(name.into(), id);
                id
            }
        };
        self.recent[slot] = id;
        Ok(id)
    }

    fn path(&self) -> String {
        path_of(&self.frames[..self.depth], &self.names, self.always_indexed)
    }
}

fn sibling_index(children: &mut Vec<(u32, u32)>, id: u32) -> u32 {
    if let Some(entry) = children.iter_mut().find(|(name, _)| *name == id) {
        entry.1 = entry.1.saturating_add(1);
        return entry.1;
    }
    if children.len() < MAX_CHILD_NAMES {
        children.push((id, 1));
        1
    } else {
        0
    }
}

fn path_of(frames: &[Frame], names: &[Box<str>], always_indexed: &[&str]) -> String {
    let mut path = String::new();
    for frame in frames {
        if !path.is_empty() {
            path.push('/');
        }
        let name = &*names[frame.name as usize];
        path.push_str(name);
        if frame.index > 1 || (frame.index == 1 && always_indexed.contains(&name)) {
            let _ = write!(path, "[{}]", frame.index);
        }
    }
    path
}

/// Parses an `ActiveOrHistoricCurrencyAndAmount` (or any amount of yuan) into fen: plain
/// decimal notation as real files write it — `400`, `5.0400`, `1.7`, `1000.12`. The schema
/// allows five decimals; money in fen has two, so trailing zeros are fine and a non-zero third
/// decimal is an error (never rounded). Negative amounts are an error (`minInclusive 0`: the sign
/// of a booking is in `CdtDbtInd`); zero is allowed (a balance of 0.00).
pub fn parse_amount(text: &str) -> Result<Fen, String> {
    let d = parse_decimal(text)?;
    let t = text.trim();
    if t.starts_with('-') && !d.is_zero() {
        return Err(format!("{} 是负数；金额的正负由 CdtDbtInd 表示", quoted(t)));
    }
    // Decided on the text, not on a rounded decimal: `0.000000000000000000000000000001` has a
    // non-zero digit that a 28-digit decimal would silently lose.
    if let Some((_, fraction)) = t.split_once('.')
        && fraction.bytes().skip(2).any(|b| b != b'0')
    {
        return Err(format!("{} 的第三位小数不是零；金额须精确到分", quoted(t)));
    }
    d.checked_mul(Decimal::ONE_HUNDRED)
        .and_then(|fen| i64::try_from(fen.trunc()).ok())
        .map(|fen| Fen(fen.abs()))
        .ok_or_else(|| format!("{} 金额过大", quoted(t)))
}

/// Parses a plain decimal (`DecimalNumber`): digits with at most one `.`, nothing else.
pub fn parse_decimal(text: &str) -> Result<Decimal, String> {
    let t = text.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    let mut dots = 0;
    let plain = !digits.is_empty()
        && digits.chars().all(|c| {
            if c == '.' {
                dots += 1;
                true
            } else {
                c.is_ascii_digit()
            }
        })
        && dots <= 1
        && digits != ".";
    if !plain {
        return Err(if t.is_empty() {
            "金额为空".to_string()
        } else {
            format!("{} 不是十进制数", quoted(t))
        });
    }
    Decimal::from_str(t).map_err(|_| format!("{} 超出十进制数的范围", quoted(t)))
}

/// Parses an `ISODate` (`2026-11-25`, also with a zone suffix `2026-11-25+08:00`) or takes the
/// date part of an `ISODateTime` (`2026-11-25T10:00:00+08:00`) as written — the bank's local
/// date, not converted to UTC.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let t = text.trim();
    t.get(..10)
        .filter(|_| {
            let rest = &t[10..];
            rest.is_empty() || rest.starts_with(['T', 'Z', '+', '-'])
        })
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| format!("{} 不是日期（应为 YYYY-MM-DD，年-月-日）", quoted(t)))
}

/// Parses a count: ASCII digits only (leading zeros allowed: ING writes `<ElctrncSeqNb>03`).
pub fn parse_count(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{} 不是整数", quoted(t)));
    }
    t.parse::<u64>()
        .map_err(|_| format!("{} 数值过大", quoted(t)))
}

/// Parses a `CreditDebitCode`.
pub fn parse_credit_debit(text: &str) -> Result<bool, String> {
    match text.trim() {
        "CRDT" => Ok(true),
        "DBIT" => Ok(false),
        other => Err(format!("{} 既不是 CRDT（贷记）也不是 DBIT（借记）", quoted(other))),
    }
}

/// Parses an `xs:boolean` (`TrueFalseIndicator`).
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!("{} 不是布尔值（应为 `true` 或 `false`）", quoted(other))),
    }
}

/// The ISO 20022 message identifier in a namespace URN:
/// `urn:iso:std:iso:20022:tech:xsd:pain.002.001.03` → `pain.002.001.03`.
pub fn message_id_of_namespace(ns: &str) -> Option<&str> {
    let id = ns.trim().rsplit(':').next()?;
    let looks_right = id.len() >= 15
        && id.split('.').count() >= 4
        && id
            .split('.')
            .next()
            .is_some_and(|area| area.chars().all(|c| c.is_ascii_lowercase()));
    looks_right.then_some(id)
}

#[cfg(test)]
pub(crate) mod schema {
    //! `xmllint --schema` for the tests of every XML writer and fixture: the official ISO 20022
    //! schemas in `../shared/iso20022/xsd/` are the judge.

    use std::io::Write as _;
    use std::path::Path;
    use std::process::Command;

    /// The folder of the ISO 20022 schemas, beside the repository.
    pub(crate) const XSD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/iso20022/xsd");

    /// Validates `bytes` against `XSD_DIR/<xsd>`; panics with xmllint's message and the document
    /// if it does not validate. Returns the document as text.
    pub(crate) fn assert_valid(bytes: &[u8], xsd: &str) -> String {
        let xsd_path = format!("{XSD_DIR}/{xsd}");
        assert!(
            Path::new(&xsd_path).is_file(),
            "XSD not found at {xsd_path}: the shared/ folder must sit beside the repository"
        );
        let text = String::from_utf8(bytes.to_vec()).expect("the document is UTF-8");
        let mut file = tempfile::Builder::new().suffix(".xml").tempfile().expect("temp file");
        file.write_all(bytes).expect("write temp file");
        file.flush().expect("flush temp file");
        let output =
            match Command::new("xmllint").arg("--noout").arg("--schema").arg(&xsd_path).arg(file.path()).output() {
                Ok(o) => o,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                    "xmllint is not installed, so the XML cannot be checked against the XSD; \
                     install it with: apt-get install -y libxml2-utils"
                ),
                Err(e) => panic!("running xmllint failed: {e}"),
            };
        assert!(
            output.status.success(),
            "xmllint rejects the document against {xsd}:\n{}\n--- document ---\n{text}",
            String::from_utf8_lossy(&output.stderr)
        );
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(xml: &str) -> Result<Vec<(Node, String, String)>, XmlError> {
        let mut c = XmlCursor::new(xml.as_bytes(), &["Tx"]);
        let mut out = Vec::new();
        loop {
            let node = c.next_node()?;
            out.push((node, c.path(), c.text().to_string()));
            if node == Node::Eof {
                return Ok(out);
            }
        }
    }

    #[test]
    fn local_names_whatever_the_prefix() {
        for xml in [
            r#"<Document xmlns="urn:x:pain.002.001.03"><A>1</A></Document>"#,
            r#"<p:Document xmlns:p="urn:x:pain.002.001.03"><p:A>1</p:A></p:Document>"#,
            r#"<Document Xmlns="urn:x:pain.002.001.03"><A>1</A></Document>"#,
        ] {
            let ev = events(xml).unwrap();
            assert_eq!(ev[1].1, "Document/A", "{xml}");
            assert_eq!(ev[2], (Node::End, "Document/A".into(), "1".into()), "{xml}");
        }
        let mut c = XmlCursor::new(&b"<p:Document xmlns:p='urn:a:b.c.d.e' xmlns='x'/>"[..], &[]);
        assert_eq!(c.next_node().unwrap(), Node::Start);
        assert_eq!(c.root_namespace(), Some("urn:a:b.c.d.e"));
        let mut c = XmlCursor::new(&b"<Document Xmlns='urn:a'/>"[..], &[]);
        c.next_node().unwrap();
        assert_eq!(c.root_namespace(), None);
    }

    #[test]
    fn paths_count_same_name_siblings() {
        let xml = "<D><R><P><Tx><Id>a</Id></Tx><Tx><Id>b</Id></Tx></P><P><Tx/><X/><Tx><Id>c</Id></Tx></P></R></D>";
        let ev = events(xml).unwrap();
        let ends: Vec<_> = ev
            .iter()
            .filter(|(n, p, _)| *n == Node::End && p.ends_with("Id"))
            .map(|(_, p, t)| format!("{p}={t}"))
            .collect();
        assert_eq!(
            ends,
            [
                "D/R/P/Tx[1]/Id=a",
                "D/R/P/Tx[2]/Id=b",
                "D/R/P[2]/Tx[2]/Id=c"
            ]
        );
    }

    #[test]
    fn text_references_and_cdata() {
        let xml = "<D><A> x &amp; y &#x4E2D;&#25991; &lt;z&gt; </A><B><![CDATA[a<b>&c]]></B></D>";
        let ev = events(xml).unwrap();
        assert_eq!(ev[2].2, "x & y 中文 <z>");
        assert_eq!(ev[4].2, "a<b>&c");
    }

    #[test]
    fn refuses_doctype_unknown_entity_encoding_truncation() {
        let e =
            events("<?xml version='1.0'?><!DOCTYPE D [<!ENTITY a 'b'>]><D>&a;</D>").unwrap_err();
        assert!(matches!(e, XmlError::Doctype { .. }), "{e}");
        assert!(e.to_string().contains("DOCTYPE"));
        let e = events("<D><A>&nbsp;</A></D>").unwrap_err();
        assert!(e.to_string().contains("D/A：引用了未声明的实体 `&nbsp;`"), "{e}");
        let e = events("<?xml version='1.0' encoding='GBK'?><D/>").unwrap_err();
        assert!(e.to_string().contains("encoding=\"GBK\""), "{e}");
        assert!(events("<?xml version='1.0' encoding='utf-8'?><D/>").is_ok());
        assert!(
            events("\u{feff}<?xml version='1.0'?><D/>").is_ok(),
            "UTF-8 BOM"
        );
        let mut c = XmlCursor::new(&b"\xff\xfe<\0D\0/\0>\0"[..], &[]);
        assert!(matches!(c.next_node(), Err(XmlError::Utf16)));
        let e = events("<D><R><Tx><Id>a</Id>").unwrap_err();
        assert!(matches!(e, XmlError::Truncated { .. }), "{e}");
        assert!(e.to_string().contains("D/R/Tx[1]"), "{e}");
        assert!(matches!(events("").unwrap_err(), XmlError::NoRoot));
        assert!(matches!(
            events("  <!-- c -->").unwrap_err(),
            XmlError::NoRoot
        ));
        assert!(matches!(
            events("a,b,c\n").unwrap_err(),
            XmlError::TextBeforeRoot { .. }
        ));
        assert!(matches!(
            events("<D/><E/>").unwrap_err(),
            XmlError::AfterRoot { .. }
        ));
        assert!(events("<D/>\n<!-- trailer -->\n").is_ok());
        let e = events("<D><R><Tx><Id>a</Id><Amt Ccy=").unwrap_err();
        assert!(matches!(e, XmlError::TruncatedInMarkup { .. }), "{e}");
        assert!(
            e.to_string().contains("D/R/Tx[1]") && e.to_string().contains("被截断"),
            "{e}"
        );
        let e = events("<D><A></B></D>").unwrap_err();
        assert!(matches!(e, XmlError::Syntax { .. }), "{e}");
        assert!(e.to_string().contains("D/A"), "{e}");
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(matches!(
            events(&deep).unwrap_err(),
            XmlError::TooDeep { .. }
        ));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let mut c = XmlCursor::new(&b"<D><A>\xd6\xd0\xce\xc4</A></D>"[..], &[]);
        let mut result = Ok(Node::Start);
        while let Ok(n) = result {
            if n == Node::Eof {
                break;
            }
            result = c.next_node();
        }
        assert!(result.is_err());
    }

    #[test]
    fn attributes_by_local_name() {
        let mut c = XmlCursor::new(&br#"<D><Amt Ccy="CNY">1.00</Amt></D>"#[..], &[]);
        c.next_node().unwrap();
        c.next_node().unwrap();
        assert_eq!(c.attr("Ccy"), Some("CNY"));
        assert_eq!(c.next_node().unwrap(), Node::End);
        assert_eq!(c.attr("Ccy"), Some("CNY"));
        assert_eq!(c.amount().unwrap(), Fen(100));
    }

    #[test]
    fn amounts_as_real_files_write_them() {
        assert_eq!(parse_amount("400"), Ok(Fen(40_000)));
        assert_eq!(parse_amount("5.0400"), Ok(Fen(504)));
        assert_eq!(parse_amount("1.7"), Ok(Fen(170)));
        assert_eq!(parse_amount("1000.12"), Ok(Fen(100_012)));
        assert_eq!(parse_amount("0.00"), Ok(Fen(0)));
        assert_eq!(parse_amount(" 12.50000 "), Ok(Fen(1250)));
        assert_eq!(parse_amount(".5"), Ok(Fen(50)));
        assert_eq!(parse_amount("7."), Ok(Fen(700)));
        assert_eq!(parse_amount("-0.00"), Ok(Fen(0)));
        assert_eq!(
            parse_amount("1.000000000000000000000000000000000000"),
            Ok(Fen(100))
        );
        assert!(parse_amount("1.000000000000000000000000000000000001").is_err());
        assert!(
            parse_amount("92233720368547758.08").is_err(),
            "above i64 fen"
        );
        assert!(
            parse_amount("10.005")
                .unwrap_err()
                .contains("第三位小数不是零")
        );
        assert!(parse_amount("-1.00").is_err());
        assert!(parse_amount("1e3").is_err());
        assert!(parse_amount("1,000.00").is_err());
        assert!(parse_amount("").is_err());
        assert!(parse_amount(".").is_err());
        assert!(parse_amount("1.2.3").is_err());
        assert!(parse_amount("99999999999999999999999").is_err());
    }

    #[test]
    fn dates_counts_indicators() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert_eq!(parse_date("2026-11-25"), Ok(d));
        assert_eq!(parse_date("2026-11-25+08:00"), Ok(d));
        assert_eq!(parse_date("2026-11-25T23:59:59.123+08:00"), Ok(d));
        assert!(parse_date("2026-11-2").is_err());
        assert!(parse_date("2026-11-25x").is_err());
        assert!(parse_date("2026-13-01").is_err());
        assert_eq!(parse_count("03"), Ok(3));
        assert!(parse_count("-1").is_err());
        assert!(parse_count("1.0").is_err());
        assert_eq!(parse_credit_debit("DBIT"), Ok(false));
        assert!(parse_credit_debit("DEBIT").is_err());
        assert_eq!(parse_bool("1"), Ok(true));
        assert_eq!(
            message_id_of_namespace("urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"),
            Some("camt.053.001.02")
        );
        assert_eq!(message_id_of_namespace("http://example.com/x"), None);
    }
}
