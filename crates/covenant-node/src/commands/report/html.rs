//! The report as one self-contained HTML page: the Markdown form rendered by `pulldown-cmark`, so both say
//! the same thing, with a style sheet for screen and print (a browser's "print to PDF" gives the PDF an
//! auditor files). No scripts, no external resources.

use std::io::Write;

use anyhow::Result;
use pulldown_cmark::{Options, Parser, html};

use super::{Report, write_markdown};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;\
color:#1b1f24;line-height:1.45}table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}\
th,td{border:1px solid #c9d1d9;padding:.25rem .5rem;vertical-align:top}th{background:#f0f3f6}\
code{font-size:.85em;background:#f0f3f6;padding:0 .2em;border-radius:3px}h3{margin-top:2rem}\
@media print{body{margin:0;max-width:none;font-size:10pt}h3{break-after:avoid}tr{break-inside:avoid}}";

/// Writes `report` as an HTML page.
pub fn write_html(report: &Report, out: &mut dyn Write) -> Result<()> {
    let mut markdown = Vec::new();
    write_markdown(report, &mut markdown)?;
    let markdown = String::from_utf8(markdown)?;
    let mut body = String::new();
    html::push_html(&mut body, Parser::new_ext(&markdown, Options::ENABLE_TABLES));
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Covenant conformance report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{LiveParams, build};
    use super::*;

    #[test]
    fn html_report_renders_the_tables_and_escapes_text() {
        let mut page = Vec::new();
        write_html(&build(&LiveParams::defaults(), None), &mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<table>") && page.contains("<th>rule</th>"), "the Markdown tables became HTML tables");
        assert!(page.contains("<h3>COV-49-BLOCK-LIMITS</h3>"));
        assert!(!page.contains("<script"), "no scripts");
        assert!(!page.contains("| art. |"), "no Markdown table left unrendered");
    }
}
