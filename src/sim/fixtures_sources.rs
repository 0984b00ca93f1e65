//! The other data-source fixtures (knowledge base with two data sources, wiki with
//! verification, the Q&A look-alikes, the empty-titled source, the `id`/`URL` columns) and
//! the heavy edge cases.
//!
//! Invariant: titles here are the public constants of `fixtures.rs`.

use serde_json::{json, Value};

use super::fixtures::{
    option_id, set, DESIGN_REVIEW, DS_ARTICLES, DS_EVENT_LOG, DS_FAQ, DS_PROJECTS, DS_QA_1,
    DS_QA_2, DS_READING, DS_WIKI, KNOWLEDGE_BASE, RELEASE_NOTES, SUPPORT,
};
use super::generate::Gen;
use super::model::{Holder, Parent, PropKind, Val};
use super::render::user_json;
use super::richtext;

pub(super) fn knowledge_base(g: &mut Gen) {
    let kb = g.page(
        Parent::Workspace,
        richtext::plain(KNOWLEDGE_BASE),
        json!({"type":"emoji","emoji":"📚"}),
    );
    g.text_block(
        Holder::Page(kb.clone()),
        "paragraph",
        richtext::plain("Articles and answers."),
    );
    let db = g.database(Parent::Page(kb.clone()), KNOWLEDGE_BASE, false);
    let articles = g.data_source(&db, DS_ARTICLES, "Name");
    let cat_opts = g.options(&["Guide", "Reference", "News"]);
    let cat = g.add_prop(
        &articles,
        "Category",
        PropKind::Select { options: cat_opts },
        None,
    );
    let published = g.add_prop(&articles, "Published", PropKind::Date, None);
    let author = g.add_prop(&articles, "Author", PropKind::People, None);
    let body = g.add_prop(&articles, "Body", PropKind::RichText, None);
    for (i, name) in [
        "Getting started",
        "API limits explained",
        "Sync internals",
        "Release 1.0",
    ]
    .iter()
    .enumerate()
    {
        let id = g.page(
            Parent::DataSource(articles.clone()),
            richtext::plain(name),
            Value::Null,
        );
        let c = option_id(g, &articles, &cat, ["Guide", "Reference", "News"][i % 3]);
        set(g, &id, &cat, Val::Select(c));
        set(
            g,
            &id,
            &published,
            Val::Date(Some(
                json!({ "start": format!("2026-05-{:02}", i + 3), "end": null, "time_zone": null }),
            )),
        );
        let a = g.person();
        set(g, &id, &author, Val::People(vec![a]));
        let s = g.sentence();
        set(g, &id, &body, Val::RichText(richtext::plain(&s)));
        g.random_content(&id, 2);
    }
    let faq = g.data_source(&db, DS_FAQ, "Question");
    let answer = g.add_prop(&faq, "Answer", PropKind::RichText, None);
    let votes = g.add_prop(
        &faq,
        "Votes",
        PropKind::Number {
            format: "number".into(),
        },
        None,
    );
    for (i, q) in ["How do I sync?", "What is a data source?", "Why 25 items?"]
        .iter()
        .enumerate()
    {
        let id = g.page(
            Parent::DataSource(faq.clone()),
            richtext::plain(q),
            Value::Null,
        );
        let s = g.sentence();
        set(g, &id, &answer, Val::RichText(richtext::plain(&s)));
        set(g, &id, &votes, Val::Number(Some((i * 7) as f64)));
    }
    let wdb = g.database(Parent::Page(kb), DS_WIKI, false);
    let wiki = g.data_source(&wdb, DS_WIKI, "Page");
    g.add_prop(
        &wiki,
        "Verification",
        PropKind::Verification,
        Some("verification"),
    );
    let owner = g.add_prop(&wiki, "Owner", PropKind::People, Some("verification_owner"));
    let tag_opts = g.options(&["Onboarding", "Design"]);
    g.add_prop(
        &wiki,
        "Tags",
        PropKind::MultiSelect { options: tag_opts },
        None,
    );
    g.add_prop(&wiki, "Last edited time", PropKind::LastEditedTime, None);
    for (i, name) in ["Team handbook", "Design principles", "On-call guide"]
        .iter()
        .enumerate()
    {
        let id = g.page(
            Parent::DataSource(wiki.clone()),
            richtext::plain(name),
            Value::Null,
        );
        let who = g.person();
        set(g, &id, &owner, Val::People(vec![who.clone()]));
        let v = if i == 0 {
            json!({ "state": "verified", "verified_by": user_json(&g.ws, &who),
                    "date": { "start": "2026-06-01T15:00:00.000Z", "end": "2026-12-01T15:00:00.000Z", "time_zone": null } })
        } else {
            json!({ "state": "unverified", "verified_by": null, "date": null })
        };
        set(g, &id, "verification", Val::Verification(v));
        g.random_content(&id, 3);
    }
}

pub(super) fn support(g: &mut Gen) {
    let page = g.page(Parent::Workspace, richtext::plain(SUPPORT), Value::Null);
    if let Some(p) = g.ws.pages.get_mut(&page) {
        p.is_locked = true;
    }
    let db1 = g.database(Parent::Page(page.clone()), DS_QA_1, true);
    let qa1 = g.data_source(&db1, DS_QA_1, "Question");
    let asked = g.add_prop(&qa1, "Asked by", PropKind::People, None);
    let answered = g.add_prop(&qa1, "Answered", PropKind::Checkbox, None);
    for (i, q) in [
        "Where is the API key?",
        "Can I export to CSV?",
        "Is there an SLA?",
    ]
    .iter()
    .enumerate()
    {
        let id = g.page(
            Parent::DataSource(qa1.clone()),
            richtext::plain(q),
            Value::Null,
        );
        let who = g.person();
        set(g, &id, &asked, Val::People(vec![who]));
        set(g, &id, &answered, Val::Checkbox(i % 2 == 0));
    }
    let db2 = g.database(Parent::Page(page.clone()), DS_QA_2, true);
    let qa2 = g.data_source(&db2, DS_QA_2, "Question");
    let res = g.add_prop(&qa2, "Resolution", PropKind::RichText, None);
    for q in ["Login loop on Safari", "Webhook not firing"] {
        let id = g.page(
            Parent::DataSource(qa2.clone()),
            richtext::plain(q),
            Value::Null,
        );
        set(
            g,
            &id,
            &res,
            Val::RichText(richtext::plain("Fixed in 1.2.")),
        );
    }
    let db3 = g.database(Parent::Page(page.clone()), "", true);
    let empty = g.data_source(&db3, "", "Name");
    let notes = g.add_prop(&empty, "Notes", PropKind::RichText, None);
    for n in ["Untitled idea", "Another idea"] {
        let id = g.page(
            Parent::DataSource(empty.clone()),
            richtext::plain(n),
            Value::Null,
        );
        set(g, &id, &notes, Val::RichText(richtext::plain("…")));
    }
    let rdb = g.database(Parent::Page(page), DS_READING, false);
    let reading = g.data_source(&rdb, DS_READING, "Name");
    let url = g.add_prop(&reading, "URL", PropKind::Url, None);
    let idp = g.add_prop(&reading, "id", PropKind::RichText, None);
    let projects_ds =
        g.ws.data_sources
            .values()
            .find(|d| richtext::plain_text(&d.title) == DS_PROJECTS)
            .map(|d| (d.id.clone(), d.database_id.clone()));
    let mut pref = None;
    if let Some((pds, pdb)) = projects_ds {
        pref = Some(g.add_prop(
            &reading,
            "Project ref",
            PropKind::Relation {
                data_source_id: pds,
                database_id: pdb,
                synced: None,
            },
            None,
        ));
    }
    let first_project =
        g.ws.data_sources
            .values()
            .find(|d| richtext::plain_text(&d.title) == DS_PROJECTS)
            .and_then(|d| d.rows.first().cloned());
    for (i, n) in [
        "The Pragmatic Programmer",
        "Designing Data-Intensive Applications",
        "Notion API docs",
    ]
    .iter()
    .enumerate()
    {
        let id = g.page(
            Parent::DataSource(reading.clone()),
            richtext::plain(n),
            Value::Null,
        );
        set(
            g,
            &id,
            &url,
            Val::Text(Some(format!("https://example.com/books/{i}"))),
        );
        set(
            g,
            &id,
            &idp,
            Val::RichText(richtext::plain(&format!("BOOK-{i}"))),
        );
        if let (Some(p), Some(target)) = (&pref, &first_project) {
            set(g, &id, p, Val::Relation(vec![target.clone()]));
        }
    }
}

pub(super) fn heavy(g: &mut Gen) {
    let notes = g.page(
        Parent::Workspace,
        richtext::plain(RELEASE_NOTES),
        Value::Null,
    );
    for i in 1..=130 {
        g.text_block(
            Holder::Page(notes.clone()),
            "paragraph",
            richtext::plain(&format!("Release 0.{i}: bug fixes and improvements.")),
        );
    }
    let review = g.page(
        Parent::Workspace,
        richtext::plain(DESIGN_REVIEW),
        Value::Null,
    );
    g.text_block(
        Holder::Page(review.clone()),
        "paragraph",
        richtext::plain("Comments welcome."),
    );
    let mut discussions: Vec<Option<String>> = vec![None; 5];
    for i in 0..110 {
        let k = i % 5;
        let (_, d) = g.comment(
            Holder::Page(review.clone()),
            discussions[k].clone(),
            &format!("Review comment {i}"),
        );
        discussions[k] = Some(d);
    }
    let ops = g.page(
        Parent::Workspace,
        richtext::plain("Operations"),
        Value::Null,
    );
    let db = g.database(Parent::Page(ops), DS_EVENT_LOG, false);
    let ds = g.data_source(&db, DS_EVENT_LOG, "Name");
    let when = g.add_prop(&ds, "When", PropKind::Date, None);
    let lvl_opts = g.options(&["info", "warn", "error"]);
    let level = g.add_prop(&ds, "Level", PropKind::Select { options: lvl_opts }, None);
    let count = g.add_prop(
        &ds,
        "Count",
        PropKind::Number {
            format: "number".into(),
        },
        None,
    );
    for i in 0..260 {
        let id = g.page(
            Parent::DataSource(ds.clone()),
            richtext::plain(&format!("Event {i:03}")),
            Value::Null,
        );
        let t =
            g.ws.pages
                .get(&id)
                .map(|p| p.created_time)
                .unwrap_or(g.ws.generated_at);
        set(
            g,
            &id,
            &when,
            Val::Date(Some(
                json!({ "start": super::util::fmt_millis(t), "end": null, "time_zone": null }),
            )),
        );
        let l = option_id(g, &ds, &level, ["info", "warn", "error"][i % 3]);
        set(g, &id, &level, Val::Select(l));
        set(g, &id, &count, Val::Number(Some((i % 17) as f64)));
    }
}
