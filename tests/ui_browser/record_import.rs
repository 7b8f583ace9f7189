//! A CSV import in the real browser (issue 26, item 2): a spreadsheet's export chosen as a
//! file, its columns shown with the properties they fill by name, one mapped by hand, the
//! import run with its progress, and its report — rows created, a refused row with its
//! line and column, the column left out.

use super::{assert_labelled, browser, click_button, heading, labelled, screenshot, sign_in, wait_in};
use crate::support::{self, ok};

use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_is_uploaded_mapped_imported_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let server = support::start(dir.path());
    for property in [
        json!({"name": "email", "label": "Email", "type": "string", "unique": true}),
        json!({"name": "full_name", "label": "Full name", "type": "string"}),
        json!({"name": "score", "label": "Score", "type": "number"}),
    ] {
        ok(server.admin("POST", "/objects/contacts/properties", Some(property)), "property");
    }
    let csv = dir.path().join("people.csv");
    std::fs::write(
        &csv,
        "\u{feff}Email,Nom,Score,Notes\r\n\
         ada@example.com,\"Lovelace, Ada\",42,first\r\n\
         grace@example.com,\"Grace\nHopper\",lots,\r\n\
         bob@example.com,Bob,7,x\r\n",
    )
    .unwrap();

    let b = browser().await;
    let c = &b.client;
    sign_in(c, &server).await;
    click_button(c, "Records").await;
    click_button(c, "Import a CSV or NDJSON file").await;
    heading(c, "Import records").await;
    labelled(c, "File (.csv or .ndjson)").await.send_keys(&csv.to_string_lossy()).await.unwrap();
    // The columns, each with the property of its name; the others left out until chosen.
    let table = wait_in(c, "#import-columns", "Notes").await;
    assert!(table.contains("Email") && table.contains("Nom") && table.contains("Score"), "{table}");
    assert_eq!(labelled(c, "Email").await.prop("value").await.unwrap().as_deref(), Some("email"));
    let nom = labelled(c, "Nom").await;
    assert_eq!(nom.prop("value").await.unwrap().as_deref(), Some(""), "no property is called Nom");
    nom.select_by_value("full_name").await.unwrap();
    assert_labelled(c, "record-import").await;
    screenshot(c, "24-import-mapping").await;

    click_button(c, "Import").await;
    let report = wait_in(c, "#import-report", "Imported").await;
    assert!(report.contains("2 created, 0 updated, 1 refused"), "{report}");
    assert!(report.contains("Left out: Notes."), "{report}");
    let errors = wait_in(c, "#import-errors", "Score").await;
    assert!(errors.contains('3') && errors.contains("column \"Score\": `lots` is not a number"), "{errors}");
    screenshot(c, "25-import-report").await;

    let found = server.admin("GET", "/objects/contacts/records?email=ada@example.com", None).body;
    assert_eq!(
        found["records"][0]["properties"],
        json!({"email": "ada@example.com", "full_name": "Lovelace, Ada", "score": 42})
    );
}
