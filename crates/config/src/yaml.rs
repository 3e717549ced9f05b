//! A YAML tree that remembers where every node was written.
//!
//! Built from saphyr-parser's event stream rather than a ready-made value
//! type, because every diagnostic must point at a line and a column, and
//! because some checks need more than a value: duplicate keys, whether a
//! scalar was quoted, and a bound on alias expansion so that a small file
//! cannot blow up into gigabytes ("billion laughs").

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::diag::{Diagnostic, Pos};

/// Nodes one file may expand to, aliases included.
const MAX_NODES: usize = 1_000_000;
/// How deep collections may nest.
const MAX_DEPTH: usize = 64;

#[derive(Clone, Debug)]
pub struct Node {
    pub pos: Pos,
    pub kind: NodeKind,
}

#[derive(Clone, Debug)]
pub enum NodeKind {
    Null,
    /// The text, and whether it was written plain (unquoted): only plain
    /// scalars can be numbers, booleans or null.
    Scalar(String, bool),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "nothing (null)",
            NodeKind::Scalar(s, plain) => {
                if *plain && (s == "true" || s == "false") {
                    "a boolean"
                } else if *plain && s.parse::<f64>().is_ok() {
                    "a number"
                } else {
                    "a string"
                }
            }
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The text of a scalar, however it was written.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// Looks a key up in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_scalar() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }
}

/// One `---` document of a file.
#[derive(Debug)]
pub struct Document {
    pub root: Node,
}

/// Parses every document of `text`. On a syntax error, returns the documents
/// read so far is pointless: the whole file is refused with one diagnostic.
pub fn parse(text: &str) -> Result<Vec<Document>, Diagnostic> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| {
            let m = e.marker();
            Diagnostic::error(
                Pos::new(m.line(), m.col() + 1),
                format!("YAML syntax error: {}", e.info()),
            )
        })?;
        builder.event(event, span)?;
    }
    Ok(builder.documents)
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
}

#[derive(Default)]
struct Builder {
    documents: Vec<Document>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
}

fn pos_of(span: &Span) -> Pos {
    Pos::new(span.start.line(), span.start.col() + 1)
}

fn count(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Null | NodeKind::Scalar(..) => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count(k) + count(v))
                .sum::<usize>()
        }
    }
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Diagnostic> {
        let pos = pos_of(&span);
        match event {
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => Ok(()),
            Event::Scalar(value, style, anchor, tag) => {
                let plain = matches!(style, ScalarStyle::Plain) && tag.is_none();
                let kind = if plain && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL")
                {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar(value.into_owned(), plain)
                };
                self.add(Node { pos, kind }, anchor)
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or_else(|| {
                    Diagnostic::error(pos, "alias refers to an anchor that is not defined")
                })?;
                self.nodes += count(&node);
                if self.nodes > MAX_NODES {
                    return Err(too_big(pos));
                }
                let node = Node { pos, ..node };
                self.add(node, 0)
            }
            Event::SequenceStart(anchor, _) => {
                self.open(pos)?;
                self.stack.push(Frame::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.open(pos)?;
                self.stack.push(Frame::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    pending_key: None,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { pos, anchor, items }) => (
                        Node {
                            pos,
                            kind: NodeKind::Seq(items),
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        pos,
                        anchor,
                        entries,
                        ..
                    }) => (
                        Node {
                            pos,
                            kind: NodeKind::Map(entries),
                        },
                        anchor,
                    ),
                    None => return Err(Diagnostic::error(pos, "unbalanced YAML collection")),
                };
                self.finish(node, anchor)
            }
        }
    }

    fn open(&mut self, pos: Pos) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Diagnostic::error(
                pos,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn add(&mut self, node: Node, anchor: usize) -> Result<(), Diagnostic> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(too_big(node.pos));
        }
        self.finish(node, anchor)
    }

    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), Diagnostic> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.documents.push(Document { root: node }),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    if !matches!(node.kind, NodeKind::Scalar(..) | NodeKind::Null) {
                        return Err(Diagnostic::error(
                            node.pos,
                            "a mapping key must be a plain value, not a list or a mapping",
                        ));
                    }
                    if let Some((first, _)) = entries
                        .iter()
                        .find(|(k, _)| k.as_scalar() == node.as_scalar())
                    {
                        return Err(Diagnostic::error(
                            node.pos,
                            format!(
                                "duplicate key `{}` (first written at line {})",
                                node.as_scalar().unwrap_or_default(),
                                first.pos.line
                            ),
                        )
                        .with_help("a key may appear once in a mapping; remove or rename one"));
                    }
                    *pending_key = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
        }
        Ok(())
    }
}

fn too_big(pos: Pos) -> Diagnostic {
    Diagnostic::error(
        pos,
        format!("document expands to more than {MAX_NODES} nodes (through aliases or sheer size)"),
    )
    .with_help("split the configuration into several smaller files in a directory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_and_styles() {
        let docs = parse("a: 1\nb:\n  - \"x\"\n  - y\n---\nc: ~\n").unwrap();
        assert_eq!(docs.len(), 2);
        let b = docs[0].root.get("b").unwrap();
        assert_eq!(b.pos, Pos::new(3, 3));
        let NodeKind::Seq(items) = &b.kind else {
            panic!()
        };
        assert!(matches!(&items[0].kind, NodeKind::Scalar(s, false) if s == "x"));
        assert!(matches!(&items[1].kind, NodeKind::Scalar(s, true) if s == "y"));
        assert!(docs[1].root.get("c").unwrap().is_null());
    }

    #[test]
    fn refuses_duplicate_keys_with_both_lines() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos, Pos::new(3, 1));
        assert!(err.message.contains("duplicate key `a`"), "{}", err.message);
        assert!(err.message.contains("line 1"));
    }

    #[test]
    fn bounds_alias_expansion() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("more than"), "{}", err.message);
    }

    #[test]
    fn reports_syntax_errors_with_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(
            err.message.starts_with("YAML syntax error"),
            "{}",
            err.message
        );
        assert!(err.pos.line >= 1);
    }
}
