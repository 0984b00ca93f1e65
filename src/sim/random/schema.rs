//! Random schema and database changes: properties added, renamed and deleted (only the
//! random `Field …` ones), databases and data sources created, trashed and restored.
//!
//! Invariant: like every random mutation, never touches a protected fixture object.

use super::{View, FIELD, TRIES};
use crate::sim::mutate::{Mutation, PropertyKind};
use crate::sim::util::SimRng;

/// The kinds a random property is created with.
const FIELD_KINDS: [PropertyKind; 5] = [
    PropertyKind::RichText,
    PropertyKind::Number,
    PropertyKind::Checkbox,
    PropertyKind::Select,
    PropertyKind::Date,
];

pub(super) fn schema(v: &View, rng: &mut SimRng) -> Option<Mutation> {
    let sources = v.live_sources();
    let ds = rng.pick(&sources)?.clone();
    let fields: Vec<String> =
        v.ws.data_sources
            .get(&ds)?
            .properties
            .iter()
            .filter(|p| p.name.starts_with(FIELD))
            .map(|p| p.name.clone())
            .collect();
    match (rng.index(3), rng.pick(&fields)) {
        (1, Some(name)) => Some(Mutation::RenameProperty {
            data_source_id: ds,
            name: name.clone(),
            new_name: format!("{FIELD}{}", rng.hex(4)),
        }),
        (2, Some(name)) => Some(Mutation::DeleteProperty {
            data_source_id: ds,
            name: name.clone(),
        }),
        _ => {
            let kind = *rng.pick(&FIELD_KINDS)?;
            Some(Mutation::AddProperty {
                data_source_id: ds,
                name: format!("{FIELD}{}", rng.hex(4)),
                kind,
            })
        }
    }
}

/// A live data source with random (`Field …`) properties, and those properties.
pub(super) fn random_fields(v: &View, rng: &mut SimRng) -> Option<(String, Vec<String>)> {
    let sources = v.live_sources();
    for _ in 0..TRIES {
        let ds = rng.pick(&sources)?.clone();
        let fields: Vec<String> =
            v.ws.data_sources
                .get(&ds)?
                .properties
                .iter()
                .filter(|p| p.name.starts_with(FIELD))
                .map(|p| p.name.clone())
                .collect();
        if !fields.is_empty() {
            return Some((ds, fields));
        }
    }
    None
}

pub(super) fn add_property(v: &View, rng: &mut SimRng) -> Option<Mutation> {
    let sources = v.live_sources();
    let ds = rng.pick(&sources)?.clone();
    Some(Mutation::AddProperty {
        data_source_id: ds,
        name: format!("{FIELD}{}", rng.hex(4)),
        kind: *rng.pick(&FIELD_KINDS)?,
    })
}

pub(super) fn create_database(v: &View, rng: &mut SimRng) -> Option<Mutation> {
    let parent_page_id = v.standalone(rng, false)?;
    let n = rng.range(1, 2);
    let data_source_titles = (0..n)
        .map(|i| format!("Source {i} {}", rng.hex(3)))
        .collect();
    Some(Mutation::CreateDatabase {
        parent_page_id,
        title: format!("Database {}", rng.hex(4)),
        data_source_titles,
    })
}

pub(super) fn database(v: &View, rng: &mut SimRng) -> Option<Mutation> {
    let ws = v.ws;
    match rng.index(4) {
        0 => create_database(v, rng),
        1 => {
            let free: Vec<String> = ws
                .databases
                .values()
                .filter(|d| v.free(&d.id) && ws.visible(&d.id))
                .map(|d| d.id.clone())
                .collect();
            let database_id = rng.pick(&free)?.clone();
            let trashed = ws.databases.get(&database_id).is_some_and(|d| d.in_trash);
            Some(if trashed {
                Mutation::RestoreDatabase { database_id }
            } else {
                Mutation::TrashDatabase { database_id }
            })
        }
        2 => {
            let free: Vec<String> = ws
                .databases
                .values()
                .filter(|d| v.free(&d.id) && !d.in_trash)
                .map(|d| d.id.clone())
                .collect();
            let database_id = rng.pick(&free)?.clone();
            Some(Mutation::CreateDataSource {
                database_id,
                title: format!("Extra source {}", rng.hex(3)),
            })
        }
        _ => {
            let free: Vec<String> = v
                .live_sources()
                .into_iter()
                .filter(|d| v.free(d))
                .filter(|d| {
                    let db = ws
                        .data_sources
                        .get(d)
                        .map(|x| x.database_id.clone())
                        .unwrap_or_default();
                    ws.databases.get(&db).is_some_and(|x| {
                        x.data_sources
                            .iter()
                            .filter(|s| ws.data_sources.get(*s).is_some_and(|s| !s.in_trash))
                            .count()
                            > 1
                    })
                })
                .collect();
            let data_source_id = rng.pick(&free)?.clone();
            Some(Mutation::TrashDataSource { data_source_id })
        }
    }
}
