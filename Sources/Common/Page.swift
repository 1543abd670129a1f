/// Which page of a list to read: newest first, after the object `startingAfter`.
public struct PageRequest: Equatable, Sendable {
    public var limit: Int
    public var startingAfter: UUID128?

    public init(limit: Int = 20, startingAfter: UUID128? = nil) {
        self.limit = limit
        self.startingAfter = startingAfter
    }
}

/// One page of a list: `{"data": [...], "has_more": …, "next_cursor": …}`.
public struct Page<Item: JSONWritable>: JSONWritable {
    public var data: [Item]
    public var hasMore: Bool
    public var nextCursor: String?

    public init(data: [Item], hasMore: Bool, nextCursor: String?) {
        self.data = data
        self.hasMore = hasMore
        self.nextCursor = nextCursor
    }

    /// Builds a page from up to `limit + 1` rows: the extra row only tells that more exist.
    public init(rows: [Item], limit: Int, cursor: (Item) -> String) {
        let hasMore = rows.count > limit
        let data = hasMore ? Array(rows.prefix(limit)) : rows
        self.init(data: data, hasMore: hasMore, nextCursor: hasMore ? data.last.map(cursor) : nil)
    }

    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.key("data")
        json.beginArray()
        for item in data { item.write(to: &json) }
        json.endArray()
        json.field("has_more", hasMore)
        json.field("next_cursor", nextCursor)
        json.endObject()
    }
}
