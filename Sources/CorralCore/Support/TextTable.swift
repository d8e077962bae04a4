/// Text tables for people: each column padded to its widest cell, two blanks between columns,
/// so a long name never runs into the next column (issue 17: `status`, the device table,
/// `simulate --compare`). The last cell of a row is not padded (no trailing blanks). Cells are
/// printed through `TerminalText.safe`: a name from a device cannot send escapes to the terminal.
public enum TextTable {
    public static func lines(_ rows: [[String]]) -> [String] {
        let rows = rows.map { $0.map(TerminalText.safe) }
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }
    }
}
