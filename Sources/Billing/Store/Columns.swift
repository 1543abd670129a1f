/// `"id, name"` qualified with a table alias: `"c.id, c.name"`, for joins and
/// `UPDATE … FROM … RETURNING` where column names would be ambiguous.
func qualified(_ columns: String, with alias: String) -> String {
    columns.split(separator: ",").map { "\(alias)." + $0.drop { $0 == " " } }.joined(separator: ", ")
}
