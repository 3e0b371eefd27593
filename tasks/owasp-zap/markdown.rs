//! ZAP's HTML descriptions re-rendered the way the original reporter did.
//!
//! The original (`reparseHTML` in the Python task's `generate-report.js`)
//! turned `<p>Phase: X` into a `##### Phase: X` heading, replaced every tag
//! with a newline, deleted runs of blanks at line ends with
//! `/(^\s +|\s + $)/gsm`, then rendered `"\n" + text` with marked 12
//! (GitHub-flavoured Markdown). The three text steps are reproduced exactly,
//! character for character, since the regexes are small; the Markdown is
//! pulldown-cmark's, adjusted where its HTML differs from marked's in form
//! only:
//! - text is escaped as marked escapes it (`&#39;`, `&quot;`), not as
//!   pulldown-cmark does (quotes left bare);
//! - hard breaks are `<br>` and rules `<hr>`, as marked writes them;
//! - blanks at the end of a paragraph's lines stay, as in marked (CommonMark
//!   drops them);
//! - a loose list item's paragraph opens on the `<li>` line;
//! - bare URLs (`http://`, `https://`, `ftp://`, `www.`) and e-mail addresses
//!   become links, as marked's GFM mode does; pulldown-cmark leaves that
//!   extension to its users, and linkify finds where a link ends.
//!
//! What is left is listed in the task's README ("Differences from the
//! original reporter").

use linkify::{LinkFinder, LinkKind};
use std::collections::VecDeque;

use pulldown_cmark::{CowStr, Event, LinkType, OffsetIter, Options, Parser, Tag, TagEnd};

/// A ZAP `desc` or `solution` (HTML) as the original reporter rendered it.
pub fn reparse_html(html: &str) -> String {
    let text = phase_headings(html);
    let text = tags_to_newlines(&text);
    let text = trim_blank_runs(&text);
    let mut markdown = String::with_capacity(text.len() + 1);
    markdown.push('\n');
    markdown.push_str(&text);
    render(&markdown)
}

/// `str.replace(/<p>Phase: \b/g, '<p>##### Phase: ')`: the `\b` after the
/// space asks for an ASCII word character next.
fn phase_headings(s: &str) -> String {
    const FROM: &str = "<p>Phase: ";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(FROM) {
        let after = &rest[at + FROM.len()..];
        out.push_str(&rest[..at]);
        if after.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            out.push_str("<p>##### Phase: ");
        } else {
            out.push_str(FROM);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `str.replace(/<[^>]*>/g, '\n')`: each `<` up to the next `>` becomes a
/// newline; a `<` with no `>` after it stays.
pub fn tags_to_newlines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else { break };
        out.push_str(&rest[..open]);
        out.push('\n');
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// `str.replace(/(^\s +|\s + $)/gsm, '')`. Read closely, the pattern is
/// `^` `\s` `␠+`, or `\s` `␠+` `␠` `$`: at the start of a line, one
/// JavaScript whitespace character and one or more spaces; at the end of a
/// line, one and two or more. Line starts and ends are those of the input
/// (multiline `^`/`$`), as in a regex replace.
fn trim_blank_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        let after = i + c.len_utf8();
        if is_js_space(c) {
            let spaces = s[after..].bytes().take_while(|&b| b == b' ').count();
            let end = after + spaces;
            let at_line_start = spaces >= 1 && prev.is_none_or(is_line_terminator);
            let at_line_end = spaces >= 2 && s[end..].chars().next().is_none_or(is_line_terminator);
            if at_line_start || at_line_end {
                // The deleted run ends in a space, which is what `^` looks back at next.
                prev = Some(' ');
                i = end;
                continue;
            }
        }
        out.push(c);
        prev = Some(c);
        i = after;
    }
    out
}

/// JavaScript's `\s`.
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// What ends a line for JavaScript's multiline `^` and `$`.
fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

/// Markdown to HTML, GitHub-flavoured, in marked's form.
pub fn render(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = MarkedForm::new(markdown, Parser::new_ext(markdown, options).into_offset_iter());
    let mut html = String::with_capacity(markdown.len() + markdown.len() / 4);
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// Rewrites pulldown-cmark's events into what marked would have written:
/// runs of text get marked's escaping and bare-URL links, and the blanks
/// CommonMark drops at the end of a paragraph's lines, which marked keeps,
/// come back.
struct MarkedForm<'a> {
    source: &'a str,
    inner: std::iter::Peekable<OffsetIter<'a>>,
    /// Events ready to go out, in order.
    queue: VecDeque<Event<'a>>,
    /// Where in the source the last inline event ended.
    last_end: usize,
    /// Inside a link or a code block, text gets no links of its own.
    no_links: u32,
    /// Inside an image, pulldown-cmark writes the alt text itself.
    image: u32,
    /// The last event opened a list item.
    item_start: bool,
    finder: LinkFinder,
}

impl<'a> MarkedForm<'a> {
    fn new(source: &'a str, events: OffsetIter<'a>) -> Self {
        let mut finder = LinkFinder::new();
        finder.url_must_have_scheme(false).kinds(&[LinkKind::Url, LinkKind::Email]);
        MarkedForm {
            source,
            inner: events.peekable(),
            queue: VecDeque::new(),
            last_end: 0,
            no_links: 0,
            image: 0,
            item_start: false,
            finder,
        }
    }

    /// Splits a run of text into escaped text and links.
    fn linkify(&mut self, text: &str) {
        let mut last = 0;
        for link in self.finder.links(text) {
            let found = link.as_str();
            let href = match link.kind() {
                LinkKind::Email => format!("mailto:{found}"),
                _ if starts_with_ignore_case(found, "www.") => format!("http://{found}"),
                _ if ["http://", "https://", "ftp://"].iter().any(|s| starts_with_ignore_case(found, s)) => {
                    found.to_owned()
                }
                // marked links only URLs with these schemes or `www.`.
                _ => continue,
            };
            self.queue.push_back(Event::InlineHtml(escape(&text[last..link.start()]).into()));
            self.queue.push_back(Event::Start(Tag::Link {
                link_type: LinkType::Autolink,
                dest_url: href.into(),
                title: CowStr::Borrowed(""),
                id: CowStr::Borrowed(""),
            }));
            self.queue.push_back(Event::InlineHtml(escape(found).into()));
            self.queue.push_back(Event::End(TagEnd::Link));
            last = link.end();
        }
        self.queue.push_back(Event::InlineHtml(escape(&text[last..]).into()));
    }

    /// The blanks between the last inline event and `end`, which pulldown-cmark
    /// dropped, as escaped text; `None` when there are none.
    fn dropped_blanks(&self, end: usize) -> Option<Event<'a>> {
        let gap = self.source.get(self.last_end..end)?;
        (!gap.is_empty() && gap.bytes().all(|b| b == b' ' || b == b'\t')).then(|| Event::InlineHtml(gap.into()))
    }
}

impl<'a> Iterator for MarkedForm<'a> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        if let Some(e) = self.queue.pop_front() {
            return Some(e);
        }
        let (event, range) = self.inner.next()?;
        let item_start = std::mem::replace(&mut self.item_start, matches!(event, Event::Start(Tag::Item)));
        let event = match event {
            // marked opens a loose list item's paragraph on the same line.
            Event::Start(Tag::Paragraph) if item_start => Event::Html("<p>".into()),
            Event::Start(Tag::Link { .. } | Tag::CodeBlock(_)) => {
                self.no_links += 1;
                event
            }
            Event::End(TagEnd::Link | TagEnd::CodeBlock) => {
                self.no_links -= 1;
                event
            }
            Event::Start(Tag::Image { .. }) => {
                self.image += 1;
                event
            }
            Event::End(TagEnd::Image) => {
                self.image -= 1;
                event
            }
            Event::SoftBreak => {
                if let Some(blanks) = self.dropped_blanks(range.start) {
                    self.queue.push_back(Event::SoftBreak);
                    self.last_end = range.end;
                    return Some(blanks);
                }
                event
            }
            Event::End(TagEnd::Paragraph) => {
                let text = &self.source[..range.end];
                let end = text.trim_end_matches(['\n', '\r']).len();
                if let Some(blanks) = self.dropped_blanks(end) {
                    self.queue.push_back(event);
                    self.last_end = range.end;
                    return Some(blanks);
                }
                event
            }
            Event::HardBreak => Event::InlineHtml("<br>".into()),
            Event::Rule => Event::Html("<hr>\n".into()),
            Event::Code(code) if self.image == 0 => Event::InlineHtml(format!("<code>{}</code>", escape(&code)).into()),
            Event::Text(text) if self.image == 0 && self.no_links == 0 => {
                // pulldown-cmark splits text at every character that might
                // have been markup; a URL must be seen whole.
                let mut run = text.into_string();
                let mut end = range.end;
                while let Some((Event::Text(more), r)) = self.inner.peek() {
                    run.push_str(more);
                    end = r.end;
                    self.inner.next();
                }
                self.last_end = end;
                self.linkify(&run);
                return self.queue.pop_front();
            }
            Event::Text(text) if self.image == 0 => Event::InlineHtml(escape(&text).into()),
            event => event,
        };
        self.last_end = range.end;
        Some(event)
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// marked's `escape`: the five characters HTML needs escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_runs_at_line_edges_are_deleted_as_the_regex_does() {
        assert_eq!(trim_blank_runs("a   \n   b"), "a\nb");
        // At a line's end the run needs three characters.
        assert_eq!(trim_blank_runs("a  \nb"), "a  \nb");
        // One space alone is not a run; a tab needs a space after it.
        assert_eq!(trim_blank_runs(" a\n\tb \n"), " a\n\tb \n");
        // `\s` may be the newline itself when a line starts there.
        assert_eq!(trim_blank_runs("x\n\n  y"), "x\ny");
        assert_eq!(trim_blank_runs("a   b"), "a   b");
    }

    #[test]
    fn tags_become_newlines_and_a_lone_angle_bracket_stays() {
        assert_eq!(tags_to_newlines("<p>a</p><p>b < c</p>"), "\na\n\nb \n");
        assert_eq!(tags_to_newlines("a < b"), "a < b");
    }

    #[test]
    fn phase_paragraphs_become_level_five_headings() {
        assert_eq!(
            reparse_html("<p>Phase: Implementation</p><p>Do it.</p>"),
            "<h5>Phase: Implementation</h5>\n<p>Do it.</p>\n"
        );
        assert_eq!(phase_headings("<p>Phase: -x"), "<p>Phase: -x");
    }

    #[test]
    fn text_is_escaped_as_marked_escapes_it() {
        assert_eq!(reparse_html("<p>it's \"set\" & <b>on</b></p>"), "<p>it&#39;s &quot;set&quot; &amp; \non</p>\n");
        assert_eq!(reparse_html(""), "");
    }

    #[test]
    fn bare_urls_become_links_without_trailing_punctuation() {
        assert_eq!(
            reparse_html("<p>See (https://a.example/x_y_z). Or www.b.example, or c.example.</p>"),
            "<p>See (<a href=\"https://a.example/x_y_z\">https://a.example/x_y_z</a>). Or <a href=\"http://www.b.example\">www.b.example</a>, or c.example.</p>\n"
        );
    }
}
