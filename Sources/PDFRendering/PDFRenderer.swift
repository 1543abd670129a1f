import Billing
import CPangoCairo
import Synchronization

/// Lays a `DocumentSheet` out as an A4 PDF with cairo and pango (documents.md): text set by
/// pango (so any script DejaVu or fontconfig's fallback covers comes out whole, and stays
/// selectable), fonts embedded by cairo, more pages as the lines need them.
///
/// One font map for the process and one render at a time: pango's default font map is one
/// per thread, which would keep a font cache per worker thread for a document rendered
/// once and then served from storage.
public enum PDFRenderer {
    /// The font map, behind the lock that serialises renders.
    private static let fontMap = Mutex(FontMap())

    public static func render(_ sheet: DocumentSheet, createdAt: String) -> [UInt8] {
        fontMap.withLock { map in
            var page = Page(fontMap: map.handle, sheet: sheet, createdAt: createdAt)
            page.draw()
            return page.finish()
        }
    }
}

/// pango's cairo font map, made once.
private struct FontMap: @unchecked Sendable {
    let handle: UnsafeMutablePointer<PangoFontMap> = pango_cairo_font_map_new()
}

/// The PDF bytes cairo writes, gathered in memory.
private final class Output {
    var bytes: [UInt8]
    /// A 20-line invoice is about 28 KB: room for it without growing.
    init() {
        bytes = []
        bytes.reserveCapacity(48 * 1024)
    }
}

/// DejaVu Sans at each size and weight asked for, described once.
private final class FontDescriptions {
    private var made: [Double: OpaquePointer] = [:]

    func font(size: Double, bold: Bool) -> OpaquePointer {
        let key = bold ? -size : size
        if let font = made[key] { return font }
        let font = pango_font_description_new()!
        pango_font_description_set_family(font, "DejaVu Sans")
        pango_font_description_set_absolute_size(font, size * Double(PANGO_SCALE))
        pango_font_description_set_weight(font, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL)
        made[key] = font
        return font
    }

    func free() {
        for font in made.values { pango_font_description_free(font) }
        made = [:]
    }
}

/// One render: a cairo PDF surface, the cursor on the current page, and the layout rules.
private struct Page {
    static let width = 595.28  // A4 in points
    static let height = 841.89
    static let margin = 48.0
    static let contentWidth = width - 2 * margin
    /// Description, period, quantity, unit price, amount: widths and which are right-aligned.
    static let columns: [(width: Double, right: Bool)] = [
        (200, false), (125, false), (42, true), (66, true), (66.28, true),
    ]

    let sheet: DocumentSheet
    let output = Output()
    let surface: OpaquePointer
    let cairo: OpaquePointer
    let context: OpaquePointer
    /// The few font descriptions a document uses, made once per render.
    let fonts = FontDescriptions()
    var y = margin
    var pageNumber = 1

    init(fontMap: UnsafeMutablePointer<PangoFontMap>, sheet: DocumentSheet, createdAt: String) {
        self.sheet = sheet
        let box = Unmanaged.passUnretained(output).toOpaque()
        surface = cairo_pdf_surface_create_for_stream(
            { closure, data, length in
                guard let closure, let data else { return CAIRO_STATUS_WRITE_ERROR }
                let output = Unmanaged<Output>.fromOpaque(closure).takeUnretainedValue()
                output.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length)))
                return CAIRO_STATUS_SUCCESS
            }, box, Self.width, Self.height)
        // The same document, the same bytes: the creation date is the document's own.
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATE_DATE, createdAt)
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, "\(sheet.title) \(sheet.number)")
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_AUTHOR, sheet.seller.first ?? "")
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "billing")
        cairo = cairo_create(surface)
        context = pango_font_map_create_context(fontMap)
        // Points, not 96-dpi pixels: a 9-point font is 9 units of the PDF's space.
        pango_cairo_context_set_resolution(context, 72)
    }

    // MARK: Layout

    mutating func draw() {
        drawHeader()
        if let mark = sheet.mark { drawMark(mark) }
        drawParties()
        drawLines()
        drawTotals()
        for table in sheet.tables { drawTable(table) }
        drawPageNumber()
    }

    private mutating func drawHeader() {
        var sellerY = y
        for (index, line) in sheet.seller.enumerated() {
            sellerY += text(line, x: Self.margin, y: sellerY, width: 280, size: index == 0 ? 11 : 9, bold: index == 0)
        }
        var titleY = y
        titleY += text(
            sheet.title, x: Self.margin + 280, y: titleY, width: Self.contentWidth - 280, size: 22, bold: true,
            right: true)
        titleY += text(
            sheet.number, x: Self.margin + 280, y: titleY, width: Self.contentWidth - 280, size: 11, right: true)
        y = max(sellerY, titleY) + 8
        rule(width: 1.5)
        y += 14
    }

    private mutating func drawMark(_ mark: String) {
        cairo_save(cairo)
        cairo_translate(cairo, Self.width - Self.margin - 110, y + 40)
        cairo_rotate(cairo, -0.14)
        cairo_set_source_rgb(cairo, 0.71, 0.14, 0.09)
        let height = text(mark, x: 0, y: 0, width: 130, size: 18, bold: true, right: false, colour: (0.71, 0.14, 0.09))
        cairo_set_line_width(cairo, 2.5)
        cairo_rectangle(cairo, -8, -4, 130 + 4, height + 8)
        cairo_stroke(cairo)
        cairo_restore(cairo)
    }

    private mutating func drawParties() {
        var left = y
        left += text("BILL TO", x: Self.margin, y: left, width: 240, size: 8, bold: true, colour: (0.4, 0.4, 0.47))
        for line in sheet.billTo { left += text(line, x: Self.margin, y: left, width: 240, size: 10) }
        var right = y + 56
        for fact in sheet.facts {
            let labelHeight = text(
                fact.label, x: Self.margin + 250, y: right, width: 110, size: 9, colour: (0.4, 0.4, 0.47))
            let valueHeight = text(
                fact.value, x: Self.margin + 360, y: right, width: Self.contentWidth - 360, size: 9, right: true)
            right += max(labelHeight, valueHeight) + 1
        }
        y = max(left, right) + 18
    }

    private mutating func drawLines() {
        drawLineHeadings()
        for line in sheet.lines {
            // Each cell is laid out once: measured for the row's height, then drawn.
            let cells = zip([line.description, line.period, line.quantity, line.unitPrice, line.amount], Self.columns)
                .map { cell, column in
                    makeLayout(cell, width: column.width - 6, size: 9, bold: false, right: column.right)
                }
            defer { for cell in cells { g_object_unref(UnsafeMutableRawPointer(cell)) } }
            let height = cells.map(height(of:)).max() ?? 0
            if y + height > Self.height - Self.margin - 20 {
                newPage()
                drawLineHeadings()
            }
            var x = Self.margin
            for (cell, column) in zip(cells, Self.columns) {
                show(cell, x: x + 3, y: y)
                x += column.width
            }
            y += height + 4
            rule(width: 0.3, grey: 0.85)
            y += 4
        }
    }

    private mutating func drawLineHeadings() {
        let headings = ["DESCRIPTION", "PERIOD", "QTY", "UNIT PRICE", "AMOUNT"]
        var x = Self.margin
        var height = 0.0
        for (index, column) in Self.columns.enumerated() {
            height = max(
                height,
                text(
                    headings[index], x: x + 3, y: y, width: column.width - 6, size: 7.5, bold: true,
                    right: column.right, colour: (0.4, 0.4, 0.47)))
            x += column.width
        }
        y += height + 4
        rule(width: 0.8)
        y += 4
    }

    private mutating func drawTotals() {
        let needed = Double(sheet.totals.count) * 17 + 10
        if y + needed > Self.height - Self.margin - 20 { newPage() }
        y += 6
        let x = Self.margin + Self.contentWidth - 260
        for total in sheet.totals {
            if total.emphasized {
                cairo_set_source_rgb(cairo, 0.11, 0.14, 0.19)
                cairo_set_line_width(cairo, 1)
                cairo_move_to(cairo, x, y)
                cairo_line_to(cairo, Self.margin + Self.contentWidth, y)
                cairo_stroke(cairo)
                y += 3
            }
            let label = text(total.label, x: x, y: y, width: 170, size: 9.5, bold: total.emphasized)
            let amount = text(total.amount, x: x + 170, y: y, width: 90, size: 9.5, bold: total.emphasized, right: true)
            y += max(label, amount) + 4
        }
    }

    private mutating func drawTable(_ table: DocumentSheet.Table) {
        if y + 60 > Self.height - Self.margin - 20 { newPage() }
        y += 14
        y +=
            text(
                table.title.uppercased(), x: Self.margin, y: y, width: Self.contentWidth, size: 8, bold: true,
                colour: (0.4, 0.4, 0.47)) + 4
        let width = Self.contentWidth / Double(table.headings.count)
        for row in [table.headings] + table.rows {
            if y + 20 > Self.height - Self.margin - 20 { newPage() }
            var height = 0.0
            for (index, cell) in row.enumerated() {
                let right = index == row.count - 1
                height = max(
                    height,
                    text(cell, x: Self.margin + Double(index) * width, y: y, width: width - 6, size: 9, right: right))
            }
            y += height + 6
        }
    }

    private mutating func newPage() {
        drawPageNumber()
        cairo_show_page(cairo)
        pageNumber += 1
        y = Self.margin
        y += text(
            "\(sheet.title) \(sheet.number) (continued)", x: Self.margin, y: y, width: Self.contentWidth, size: 9,
            bold: true)
        y += 10
    }

    private func drawPageNumber() {
        _ = text(
            "Page \(pageNumber)", x: Self.margin, y: Self.height - Self.margin + 8, width: Self.contentWidth, size: 8,
            right: true, colour: (0.4, 0.4, 0.47))
    }

    private mutating func rule(width: Double, grey: Double = 0.11) {
        cairo_set_source_rgb(cairo, grey, grey, grey)
        cairo_set_line_width(cairo, width)
        cairo_move_to(cairo, Self.margin, y)
        cairo_line_to(cairo, Self.margin + Self.contentWidth, y)
        cairo_stroke(cairo)
    }

    // MARK: Text

    /// Sets `string` in a box `width` wide at (`x`, `y`), wrapping as needed, and answers
    /// its height. Plain text, never markup: a name like `<b>` is those three characters.
    @discardableResult
    private func text(
        _ string: String, x: Double, y: Double, width: Double, size: Double, bold: Bool = false,
        right: Bool = false, colour: (Double, Double, Double) = (0.11, 0.14, 0.19)
    ) -> Double {
        let layout = makeLayout(string, width: width, size: size, bold: bold, right: right)
        defer { g_object_unref(UnsafeMutableRawPointer(layout)) }
        show(layout, x: x, y: y, colour: colour)
        return height(of: layout)
    }

    private func show(
        _ layout: OpaquePointer, x: Double, y: Double, colour: (Double, Double, Double) = (0.11, 0.14, 0.19)
    ) {
        cairo_set_source_rgb(cairo, colour.0, colour.1, colour.2)
        cairo_move_to(cairo, x, y)
        pango_cairo_show_layout(cairo, layout)
    }

    private func makeLayout(_ string: String, width: Double, size: Double, bold: Bool, right: Bool)
        -> OpaquePointer
    {
        let layout = pango_layout_new(context)!
        pango_layout_set_font_description(layout, fonts.font(size: size, bold: bold))
        pango_layout_set_width(layout, Int32(width * Double(PANGO_SCALE)))
        pango_layout_set_wrap(layout, PANGO_WRAP_WORD_CHAR)
        pango_layout_set_alignment(layout, right ? PANGO_ALIGN_RIGHT : PANGO_ALIGN_LEFT)
        pango_layout_set_text(layout, string, -1)
        return layout
    }

    private func height(of layout: OpaquePointer) -> Double {
        var width: Int32 = 0
        var height: Int32 = 0
        pango_layout_get_size(layout, &width, &height)
        return Double(height) / Double(PANGO_SCALE)
    }

    func finish() -> [UInt8] {
        cairo_destroy(cairo)
        cairo_surface_finish(surface)
        cairo_surface_destroy(surface)
        g_object_unref(UnsafeMutableRawPointer(context))
        fonts.free()
        return output.bytes
    }
}
