//! Decoding of the on-call kinds: `Person` and `Schedule` (nines/v1).
//! A child module of `decode`, so it shares the decoder's helpers.

use std::path::{Path, PathBuf};

use jiff::civil::{Date, DateTime, Time};
use nines_core::model::{ContactKind, ContactMethod, Meta, PageLimit, Person};
use nines_core::oncall::{Turn, WEEK_MINUTES, Window};

use super::{Decoder, Drafts, Loc, Ref, contact_problem};
use crate::diag::{Diagnostic, Pos};
use crate::ical::{self, Moment};
use crate::yaml::Node;

/// A schedule as written, before its references and zone are resolved.
#[derive(Clone, Debug)]
pub struct ScheduleDraft {
    pub meta: Meta,
    /// Checked against the time zone database; `None` takes the team's.
    pub zone: Option<String>,
    pub team: Option<Ref>,
    pub layers: Vec<LayerDraft>,
    pub overrides: Vec<OverrideDraft>,
}

#[derive(Clone, Debug)]
pub struct LayerDraft {
    pub name: String,
    pub coverage: CoverageDraft,
    pub restrictions: Vec<Window>,
}

#[derive(Clone, Debug)]
pub enum CoverageDraft {
    Rotation {
        start: DateTime,
        end: Option<DateTime>,
        turn: Turn,
        members: Vec<Ref>,
    },
    /// Events of an iCalendar file: who (located in that file), from, until.
    Calendar(Vec<(Ref, Moment, Moment)>),
}

#[derive(Clone, Debug)]
pub struct OverrideDraft {
    pub person: Ref,
    pub start: Moment,
    pub end: Moment,
    pub loc: Loc,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Decoder<'_> {
    pub(super) fn person(&mut self, spec: &Node, mut meta: Meta) -> Option<Person> {
        let what = "Person spec";
        let f = self.fields(
            spec,
            what,
            &["description", "timeZone", "contacts", "pageLimit"],
        )?;
        meta.description = self.description(&f, what);
        let time_zone = f
            .get("timeZone")
            .and_then(|n| self.time_zone(n, "Person spec.timeZone"));
        let contacts = f
            .get("contacts")
            .map(|n| self.contacts(n))
            .unwrap_or_default();
        let page_limit = f.get("pageLimit").and_then(|n| self.page_limit(n));
        Some(Person {
            meta,
            time_zone,
            contacts,
            teams: Vec::new(),
            page_limit,
        })
    }

    /// A person's `pageLimit: {pages: 3, window: 5m}`.
    fn page_limit(&mut self, node: &Node) -> Option<PageLimit> {
        let what = "Person spec.pageLimit";
        let f = self.fields(node, what, &["pages", "window"])?;
        let pages_node = self.required(&f, "pages", what)?;
        let window_node = self.required(&f, "window", what)?;
        let pages = self.number(pages_node, &format!("{what}.pages"))?;
        let window = self.fixed_span(window_node, &format!("{what}.window"), false)?;
        if pages < 1.0 || pages.fract() != 0.0 || pages > f64::from(u32::MAX) {
            self.error(
                pages_node.pos,
                format!("{what}.pages must be a whole number of at least 1, found {pages}"),
            );
            return None;
        }
        PageLimit::new(pages as u32, window)
    }

    /// A `contacts:` list of a person or a team member.
    pub(super) fn contacts(&mut self, list: &Node) -> Vec<ContactMethod> {
        let mut contacts = Vec::new();
        for c in self.list(list, "contacts") {
            let cw = "a contact method";
            let Some(cf) = self.fields(c, cw, &["type", "address", "fallback"]) else {
                continue;
            };
            let (Some(kind_s), Some(address)) = (
                self.req_string(&cf, "type", cw),
                self.req_string(&cf, "address", cw),
            ) else {
                continue;
            };
            let kind_pos = cf.get("type").map_or(c.pos, |n| n.pos);
            let Some(kind) = ContactKind::parse(&kind_s) else {
                self.error_help(
                    kind_pos,
                    format!("unknown contact type `{kind_s}`"),
                    format!("contact types: {}", ContactKind::NAMES.join(", ")),
                );
                continue;
            };
            let addr_pos = cf.get("address").map_or(c.pos, |n| n.pos);
            if let Some(problem) = contact_problem(kind, &address) {
                self.error(addr_pos, problem);
                continue;
            }
            let fallback = self.opt_bool(&cf, "fallback", cw).unwrap_or(false);
            contacts.push(ContactMethod {
                kind,
                address,
                fallback,
            });
        }
        if !contacts.is_empty() && contacts.iter().all(|c| c.fallback) {
            self.error_help(
                list.pos,
                "every contact method is marked `fallback: true`, so none is paged first",
                "leave `fallback` off the contact methods to page at once; fallbacks are used when those keep failing",
            );
        }
        contacts
    }

    pub(super) fn schedule(
        &mut self,
        spec: &Node,
        mut meta: Meta,
        out: &mut Drafts,
    ) -> Option<ScheduleDraft> {
        let what = "Schedule spec";
        let f = self.fields(
            spec,
            what,
            &["description", "team", "timeZone", "layers", "overrides"],
        )?;
        meta.description = self.description(&f, what);
        let team = self.reference(&f, "team", what);
        let zone = f
            .get("timeZone")
            .and_then(|n| self.time_zone(n, "Schedule spec.timeZone"));
        let mut layers = Vec::new();
        match f.get("layers") {
            None => self.error_help(
                spec.pos,
                format!("schedule `{}` has no layers, so nobody would ever be on call", meta.name),
                "add `layers:` with at least one rotation: {name: weekly, start: 2026-01-05T09:00, turn: weekly, members: [alice, bob]}",
            ),
            Some(list) => {
                let items = self.list(list, "Schedule spec.layers");
                if items.is_empty() {
                    self.error_help(
                        list.pos,
                        format!("schedule `{}` has no layers, so nobody would ever be on call", meta.name),
                        "add at least one rotation with members",
                    );
                }
                for (i, item) in items.iter().enumerate() {
                    if let Some(layer) = self.layer(item, i, out) {
                        if layers.iter().any(|l: &LayerDraft| l.name == layer.name) {
                            self.error(item.pos, format!("layer `{}` is listed twice", layer.name));
                            continue;
                        }
                        layers.push(layer);
                    }
                }
            }
        }
        let mut overrides = Vec::new();
        if let Some(list) = f.get("overrides") {
            for item in self.list(list, "Schedule spec.overrides") {
                let w = "an override";
                let Some(of) = self.fields(item, w, &["person", "start", "end"]) else {
                    continue;
                };
                let person = self.required(&of, "person", w).and_then(|n| {
                    let name = self.name(n, "an override's person")?;
                    Some(Ref {
                        name,
                        loc: self.loc(n.pos),
                    })
                });
                let start = self
                    .required(&of, "start", w)
                    .and_then(|n| self.moment(n, "an override's start"));
                let end = self
                    .required(&of, "end", w)
                    .and_then(|n| self.moment(n, "an override's end"));
                if let (Some(person), Some(start), Some(end)) = (person, start, end) {
                    overrides.push(OverrideDraft {
                        person,
                        start,
                        end,
                        loc: self.loc(of.get("end").map_or(item.pos, |n| n.pos)),
                    });
                }
            }
        }
        Some(ScheduleDraft {
            meta,
            zone,
            team,
            layers,
            overrides,
        })
    }

    fn layer(&mut self, item: &Node, index: usize, out: &mut Drafts) -> Option<LayerDraft> {
        let w = "a schedule layer";
        let f = self.fields(
            item,
            w,
            &[
                "name",
                "start",
                "handoff",
                "turn",
                "end",
                "members",
                "restrictions",
                "calendar",
            ],
        )?;
        let name = match f.get("name") {
            Some(n) => self.name(n, "a schedule layer")?,
            None => format!("layer-{}", index + 1),
        };
        let restrictions = f
            .get("restrictions")
            .map(|n| self.restrictions(n))
            .unwrap_or_default();
        if let Some(cal) = f.get("calendar") {
            for key in ["start", "handoff", "turn", "end", "members"] {
                if let Some(n) = f.get(key) {
                    self.error_help(
                        n.pos,
                        format!("layer `{name}` imports a calendar, so it takes no `{key}`"),
                        "a layer is either a rotation (start, turn, members) or a calendar import",
                    );
                }
            }
            let events = self.calendar(cal, out)?;
            return Some(LayerDraft {
                name,
                coverage: CoverageDraft::Calendar(events),
                restrictions,
            });
        }
        let members_node = f.get("members");
        let members: Vec<Ref> = match members_node {
            Some(list) => self
                .list(list, "a schedule layer's members")
                .iter()
                .filter_map(|m| {
                    let n = self.name(m, "a layer member")?;
                    Some(Ref {
                        name: n,
                        loc: self.loc(m.pos),
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        if members.is_empty() {
            self.error_help(
                members_node.map_or(item.pos, |n| n.pos),
                format!("layer `{name}` has no members, so nobody would ever be on call"),
                "list the people who take turns, in order: members: [alice, bob]",
            );
        }
        let turn = match f.get("turn") {
            None => {
                self.error_help(
                    item.pos,
                    format!("layer `{name}` needs `turn`: how long each member is on call"),
                    "write daily, weekly, or a length such as 12h, 3d or 2w",
                );
                None
            }
            Some(n) => self.turn(n),
        };
        let start = match f.get("start") {
            None => {
                self.error_help(
                    item.pos,
                    format!("layer `{name}` needs `start`: the first handoff"),
                    "write it on the schedule's wall clock: start: 2026-01-05T09:00 (a weekly turn is handed off on that weekday)",
                );
                None
            }
            Some(n) => self.start(n, f.get("handoff")),
        };
        let end = f.get("end").and_then(|n| self.civil(n, "a layer's end"));
        if let (Some(s), Some(e), Some(n)) = (start, end, f.get("end"))
            && e <= s
        {
            self.error(
                n.pos,
                format!("layer `{name}` ends ({e}) before it starts ({s})"),
            );
            return None;
        }
        if members.is_empty() {
            return None;
        }
        Some(LayerDraft {
            name,
            coverage: CoverageDraft::Rotation {
                start: start?,
                end,
                turn: turn?,
                members,
            },
            restrictions,
        })
    }

    fn turn(&mut self, n: &Node) -> Option<Turn> {
        let s = self.string(n, "a layer's turn")?;
        match s.as_str() {
            "daily" => return Some(Turn::DAILY),
            "weekly" => return Some(Turn::WEEKLY),
            _ => {}
        }
        let d = self.fixed_duration(n, "a layer's turn")?;
        let minutes = d.seconds().map_or(i64::MAX, |s| (s / 60) as i64);
        match Turn::from_minutes(minutes) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error_help(
                    n.pos,
                    format!("turn `{s}`: {e}"),
                    "write daily, weekly, or a length such as 12h, 3d or 2w",
                );
                None
            }
        }
    }

    /// A layer's `start` (a date and time, or a date with `handoff`).
    fn start(&mut self, n: &Node, handoff: Option<&Node>) -> Option<DateTime> {
        let text = self.string(n, "a layer's start")?;
        let text = text.trim();
        // jiff reads a date out of a date-time too: only a bare date is one.
        if let Some(date) = Some(text)
            .filter(|t| !t.contains(['T', 't', ' ']))
            .and_then(|t| t.parse::<Date>().ok())
        {
            let time = match handoff {
                Some(h) => self.time_of_day(h, "a layer's handoff", false)?,
                None => Time::midnight(),
            };
            return Some(date.to_datetime(time));
        }
        if let Some(h) = handoff {
            self.error_help(
                h.pos,
                "`handoff` repeats the time already in `start`",
                "give either start: 2026-01-05T09:00, or start: 2026-01-05 with handoff: \"09:00\"",
            );
            return None;
        }
        self.civil(n, "a layer's start")
    }

    fn civil(&mut self, n: &Node, what: &str) -> Option<DateTime> {
        let text = self.string(n, what)?;
        match text.trim().replacen(' ', "T", 1).parse::<DateTime>() {
            Ok(dt) if (1970..=9000).contains(&dt.year()) => Some(dt),
            _ => {
                self.error_help(
                    n.pos,
                    format!("{what} `{text}` is not a date and time"),
                    "write it on the schedule's wall clock, without a zone: 2026-01-05T09:00",
                );
                None
            }
        }
    }

    /// An instant with an offset (`2026-12-24T18:00:00+01:00`, `...Z`) or a
    /// time on the schedule's wall clock (`2026-12-24T18:00`).
    fn moment(&mut self, n: &Node, what: &str) -> Option<Moment> {
        let text = self.string(n, what)?;
        if let Ok(t) = text.trim().parse::<jiff::Timestamp>() {
            return Some(Moment::Instant(t));
        }
        self.civil(n, what).map(Moment::Civil)
    }

    /// `HH:MM`; `24:00` only where `end_of_day`.
    fn time_of_day(&mut self, n: &Node, what: &str, end_of_day: bool) -> Option<Time> {
        let minutes = self.minute_of_day(n, what, end_of_day)?;
        if minutes == 1440 {
            return None;
        }
        Time::new((minutes / 60) as i8, (minutes % 60) as i8, 0, 0).ok()
    }

    pub(super) fn minute_of_day(&mut self, n: &Node, what: &str, end_of_day: bool) -> Option<u32> {
        let text = self.string(n, what)?;
        let parsed = parse_hh_mm(text.trim()).filter(|m| *m < 1440 || (end_of_day && *m == 1440));
        if parsed.is_none() {
            self.error_help(
                n.pos,
                format!("{what} `{text}` is not a time of day"),
                if end_of_day {
                    "write HH:MM on a 24-hour clock, such as \"09:00\" or \"24:00\" for midnight at the end of the day"
                } else {
                    "write HH:MM on a 24-hour clock, such as \"09:00\""
                },
            );
        }
        parsed
    }

    /// `restrictions:`: `{from: "09:00", to: "18:00"}` every day, or
    /// `{from: "mon 09:00", to: "fri 18:00"}` once a week.
    fn restrictions(&mut self, list: &Node) -> Vec<Window> {
        let mut out = Vec::new();
        for item in self.list(list, "a layer's restrictions") {
            let w = "a restriction";
            let Some(f) = self.fields(item, w, &["days", "from", "to"]) else {
                continue;
            };
            let (Some(from_n), Some(to_n)) =
                (self.required(&f, "from", w), self.required(&f, "to", w))
            else {
                continue;
            };
            let (Some(from_s), Some(to_s)) = (
                self.string(from_n, "a restriction's from"),
                self.string(to_n, "a restriction's to"),
            ) else {
                continue;
            };
            let weekly = |s: &str| s.trim().contains(' ');
            let days = match f.get("days") {
                Some(n) => match self.days(n) {
                    Some(d) => Some((d, n.pos)),
                    None => continue,
                },
                None => None,
            };
            let windows = if weekly(&from_s) || weekly(&to_s) {
                if let Some((_, pos)) = days {
                    self.error_help(
                        pos,
                        "`days` goes with times of day, not with weekly times",
                        "write {days: mon-fri, from: \"09:00\", to: \"18:00\"}, or {from: mon 09:00, to: fri 18:00} for one stretch",
                    );
                    continue;
                }
                let (Some(from), Some(to)) = (
                    self.minute_of_week(from_n, &from_s),
                    self.minute_of_week(to_n, &to_s),
                ) else {
                    continue;
                };
                if to <= from {
                    self.error_help(
                        to_n.pos,
                        format!("this restriction ends ({to_s}) before it starts ({from_s})"),
                        "a weekly window runs from Monday to Sunday; for one across the weekend write two: {from: fri 18:00, to: sun 24:00} and {from: mon 00:00, to: mon 09:00}",
                    );
                    continue;
                }
                Window::new(from, to).map(|w| vec![w])
            } else {
                let (Some(from), Some(to)) = (
                    self.minute_of_day(from_n, "a restriction's from", false),
                    self.minute_of_day(to_n, "a restriction's to", true),
                ) else {
                    continue;
                };
                if to <= from {
                    self.error_help(
                        to_n.pos,
                        format!("this restriction ends ({to_s}) before it starts ({from_s})"),
                        "for a night shift write two windows: {from: \"18:00\", to: \"24:00\"} and {from: \"00:00\", to: \"08:00\"}",
                    );
                    continue;
                }
                Window::daily(from, to).map(|ws| match &days {
                    Some((days, _)) => days.iter().map(|d| ws[*d]).collect(),
                    None => ws,
                })
            };
            match windows {
                Ok(ws) => out.extend(ws),
                Err(e) => self.error(item.pos, e.to_string()),
            }
        }
        out
    }

    /// `days:` as day indexes from Monday: `mon-fri`, `[sat, sun]`, `mon,wed`.
    pub(super) fn days(&mut self, n: &Node) -> Option<Vec<usize>> {
        let words: Vec<String> = match n.as_scalar() {
            Some(s) => s
                .split(',')
                .map(|w| w.trim().to_ascii_lowercase())
                .collect(),
            None => self
                .list(n, "a restriction's days")
                .iter()
                .filter_map(|d| d.as_scalar().map(|s| s.trim().to_ascii_lowercase()))
                .collect(),
        };
        let day = |w: &str| {
            DAYS.iter()
                .position(|d| w.len() >= 3 && d.starts_with(&w[..3]) && is_day_name(w))
        };
        let mut out = Vec::new();
        for w in &words {
            let found = match w.split_once('-') {
                Some((a, b)) => match (day(a.trim()), day(b.trim())) {
                    (Some(a), Some(b)) if a <= b => Some((a..=b).collect::<Vec<_>>()),
                    _ => None,
                },
                None => day(w).map(|d| vec![d]),
            };
            match found {
                Some(ds) => out.extend(ds),
                None => {
                    self.error_help(
                        n.pos,
                        format!("`{w}` is not a day or a range of days"),
                        "write days such as mon-fri, or a list: [sat, sun]",
                    );
                    return None;
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        if out.is_empty() {
            self.error(n.pos, "`days` lists no day");
            return None;
        }
        Some(out)
    }

    /// `mon 09:00` as minutes from Monday 00:00.
    fn minute_of_week(&mut self, n: &Node, text: &str) -> Option<u32> {
        let parsed = text.trim().split_once(' ').and_then(|(day, time)| {
            let day = day.to_ascii_lowercase();
            let d = DAYS
                .iter()
                .position(|p| day.len() >= 3 && p.starts_with(&day[..3]) && is_day_name(&day))?;
            let m = parse_hh_mm(time.trim()).filter(|m| *m <= 1440)?;
            Some(d as u32 * 1440 + m).filter(|m| *m <= WEEK_MINUTES)
        });
        if parsed.is_none() {
            self.error_help(
                n.pos,
                format!("`{text}` is not a day and a time of day"),
                "write a weekday and HH:MM, such as \"mon 09:00\" or \"fri 18:00\"",
            );
        }
        parsed
    }

    /// The events of an iCalendar file, read now; who each names is checked
    /// once every person is known.
    fn calendar(&mut self, n: &Node, out: &mut Drafts) -> Option<Vec<(Ref, Moment, Moment)>> {
        let rel = self.string(n, "a layer's calendar")?;
        let path = resolve(self.file, &rel);
        let text = match std::fs::metadata(&path) {
            Ok(m) if m.len() > crate::MAX_FILE_BYTES => Err("it is larger than 4 MiB".to_owned()),
            Ok(_) => std::fs::read_to_string(&path).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                self.error_help(
                    n.pos,
                    format!("cannot read the calendar {}: {e}", path.display()),
                    "the path is relative to this file's directory",
                );
                return None;
            }
        };
        out.extra_sources.push((path.clone(), text.clone()));
        let events = match ical::read(&text) {
            Ok(events) => events,
            Err(errors) => {
                for e in errors {
                    self.diags
                        .push(Diagnostic::error(Pos::new(e.line, 1), e.message).in_file(&path));
                }
                return None;
            }
        };
        let mut found = Vec::new();
        for e in events {
            let loc = Loc {
                file: path.clone(),
                pos: Pos::new(e.line, 1),
            };
            match e.person.or(e.summary).filter(|p| !p.is_empty()) {
                Some(name) => found.push((Ref { name, loc }, e.start, e.end)),
                None => self.diags.push(
                    Diagnostic::error(loc.pos, "this event names nobody")
                        .with_help("nines reads the person from X-NINES-PERSON, or else from SUMMARY, which must be a person's name")
                        .in_file(&path),
                ),
            }
        }
        Some(found)
    }
}

fn is_day_name(day: &str) -> bool {
    const FULL: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    day.len() == 3 || FULL.contains(&day)
}

fn parse_hh_mm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

fn resolve(config_file: &Path, rel: &str) -> PathBuf {
    let p = Path::new(rel);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    config_file
        .parent()
        .map_or_else(|| p.to_path_buf(), |d| d.join(p))
}
