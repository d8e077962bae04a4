import ArgumentParser
import CorralStore
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract:
            "Write a self-contained HTML report of the journal: per device, a rate timeline with the actions marked, and its episodes.",
        discussion:
            "The page has no scripts and loads nothing from the network: mail it, attach it to a ticket, open it offline."
    )

    @OptionGroup var journal: JournalOption

    @Option(help: "The HTML file to write.")
    var html: String

    @OptionGroup var time: TimeOptions

    func run() throws {
        let store = try journal.open()
        do {
            let page = try HTMLReport.render(store, since: try time.sinceUTC(), display: time.display)
            try ReportCommand.write(page, to: html)
            print("wrote \(html)")
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    static func write(_ page: String, to path: String) throws {
        do {
            try page.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw CommandFailure("\(path): cannot write the report: \(error.localizedDescription)")
        }
    }
}
