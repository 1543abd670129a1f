import Billing
import Common

/// The hosted invoice page (documents.md): one HTML document a customer can read and print,
/// with no script at all. Its only style sheet is inline and allowed by its hash in the
/// `Content-Security-Policy`, so the policy can forbid everything else.
public enum HostedPage {
    public static let contentSecurityPolicy =
        "default-src 'none'; style-src '\(styleHash)'; img-src 'none'; base-uri 'none'; form-action 'none'; "
        + "frame-ancestors 'none'"

    /// Headers of the page and of its PDF: private caching for a minute, never indexed.
    public static let headers = [("Cache-Control", "private, max-age=60"), ("X-Robots-Tag", "noindex")]

    public static func render(_ sheet: DocumentSheet, pdfPath: String?) -> [UInt8] {
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="robots" content="noindex">
            <title>\(HTML.escape(sheet.title)) \(HTML.escape(sheet.number)) — \(HTML.escape(sheet.seller.first ?? ""))</title>
            <style>\(style)</style></head>
            <body><main class="sheet">
            <header><div class="seller">
            """
        for (index, line) in sheet.seller.enumerated() {
            html += index == 0 ? "<strong>\(HTML.escape(line))</strong>" : "<br>\(HTML.escape(line))"
        }
        html += "</div><div class=\"title\"><h1>\(HTML.escape(sheet.title))</h1>"
        html += "<p class=\"number\">\(HTML.escape(sheet.number))</p></div></header>\n"
        if let mark = sheet.mark {
            html += "<p class=\"mark\" role=\"status\">\(HTML.escape(mark))</p>\n"
        }
        html += "<section class=\"parties\"><div><h2>Bill to</h2><p>"
        html += sheet.billTo.map(HTML.escape).joined(separator: "<br>")
        html += "</p></div><dl class=\"facts\">"
        for fact in sheet.facts {
            html += "<div><dt>\(HTML.escape(fact.label))</dt><dd>\(HTML.escape(fact.value))</dd></div>"
        }
        html += "</dl></section>\n"
        html += table(
            headings: ["Description", "Period", "Qty", "Unit price", "Amount"], numeric: [2, 3, 4],
            rows: sheet.lines.map { [$0.description, $0.period, $0.quantity, $0.unitPrice, $0.amount] },
            class: "lines")
        html += "<table class=\"totals\"><tbody>"
        for total in sheet.totals {
            let open = total.emphasized ? "<tr class=\"emphasized\">" : "<tr>"
            html +=
                "\(open)<th scope=\"row\">\(HTML.escape(total.label))</th><td>\(HTML.escape(total.amount))</td></tr>"
        }
        html += "</tbody></table>\n"
        for extra in sheet.tables {
            html += "<h2>\(HTML.escape(extra.title))</h2>"
            html += table(
                headings: extra.headings, numeric: [extra.headings.count - 1], rows: extra.rows, class: "history")
        }
        if let pdfPath {
            html += "<footer><a href=\"\(HTML.escape(pdfPath))\">Download PDF</a></footer>\n"
        }
        html += "</main></body></html>\n"
        return Array(html.utf8)
    }

    private static func table(headings: [String], numeric: Set<Int>, rows: [[String]], class name: String) -> String {
        var html = "<table class=\"\(name)\"><thead><tr>"
        for (index, heading) in headings.enumerated() {
            html += numeric.contains(index) ? "<th class=\"num\">" : "<th>"
            html += "\(HTML.escape(heading))</th>"
        }
        html += "</tr></thead><tbody>"
        for row in rows {
            html += "<tr>"
            for (index, cell) in row.enumerated() {
                html += numeric.contains(index) ? "<td class=\"num\">" : "<td>"
                html += "\(HTML.escape(cell))</td>"
            }
            html += "</tr>"
        }
        return html + "</tbody></table>\n"
    }

    /// Print-friendly and readable on a phone; system fonts only (nothing is fetched).
    static let style = """
        body{margin:0;background:#f4f5f7;color:#1d2330;font:15px/1.45 "DejaVu Sans",system-ui,sans-serif}\
        .sheet{max-width:820px;margin:24px auto;background:#fff;padding:40px;border-radius:8px;\
        box-shadow:0 1px 3px rgba(0,0,0,.12);position:relative}\
        header{display:flex;justify-content:space-between;gap:24px;border-bottom:2px solid #1d2330;padding-bottom:16px}\
        h1{margin:0;font-size:28px;text-align:right}.number{margin:4px 0 0;text-align:right;color:#555}\
        h2{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:#667;margin:24px 0 6px}\
        .mark{position:absolute;top:120px;right:40px;margin:0;padding:6px 14px;border:3px solid #b42318;\
        color:#b42318;font-weight:700;font-size:22px;letter-spacing:.12em;transform:rotate(-8deg)}\
        .parties{display:flex;justify-content:space-between;gap:24px;flex-wrap:wrap}\
        .facts{margin:24px 0 0;display:grid;grid-template-columns:auto auto;gap:2px 16px}\
        .facts div{display:contents}dt{color:#667}dd{margin:0;text-align:right}\
        table{width:100%;border-collapse:collapse;margin-top:24px}\
        th,td{padding:7px 6px;text-align:left;vertical-align:top;border-bottom:1px solid #e3e5ea}\
        thead th{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#667}\
        .num,.totals td{text-align:right;white-space:nowrap}\
        .totals{width:auto;margin-left:auto;min-width:320px}.totals th{font-weight:400;color:#445}\
        .emphasized th,.emphasized td{font-weight:700;color:#1d2330;border-top:2px solid #1d2330}\
        footer{margin-top:32px}a{color:#1849a9}\
        @media print{body{background:#fff}.sheet{box-shadow:none;margin:0;max-width:none}footer{display:none}}
        """

    static let styleHash: String = "sha256-" + Base64.encode(SHA256.hash(Array(style.utf8)))
}
