import ArgumentParser
import CorralCore
import CorralDecode

struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Find the device events in a kernel log, or decode raw IOMMU fault records.",
        discussion: """
            With a log (a file, or `-` / nothing for standard input), prints what each device did: \
            DMA and interrupt-remapping faults (Intel VT-d, AMD-Vi, Arm SMMU v2/v3), IOMMU errors \
            and queue overflows, AER errors, DPC, hot-plug, devices lost, interrupt storms, and \
            how many messages the kernel's rate limiting dropped. The line format is detected \
            per line: dmesg (with or without -T, caller IDs), syslog/journald (any language), \
            RFC 3339, raw /dev/kmsg; pasted logs with wrapped lines, `> ` quotes or \
            quoted-printable damage are repaired.

            --json prints one JSON object per event (JSON Lines) in the schema of \
            shared/corpus/kernel-logs/README.md: line, class, vendor, device, iommu, stream_id, \
            address, access, reason, severity, count, irq, plus extras (time, reason_text, ...).

            With --vendor, the arguments are one raw record, either as the words the kernel \
            prints (one 0x value per word) or as bytes in memory order:
              corral decode --vendor smmuv3 0x0000010000000010 0x0000020000000000 0x90000f040 0x0
              corral decode --vendor amd-vi 0x00000500 0x20700012 0xff6101b0 0x0
              corral decode --vendor vtd 0x9c000000 0xc000000600000010
              corral decode --vendor smmuv2 0x402 0x7c0020 0x9c4b9000 0x800
            """)

    enum Vendor: String, ExpressibleByArgument, CaseIterable {
        case vtd
        case vtdStatus = "vtd-fsts"
        case amdVi = "amd-vi"
        case smmuv3, smmuv2
    }

    @Argument(help: "The log file ('-' or nothing: standard input); with --vendor, the record's hex.")
    var inputs: [String] = []

    @Flag(help: "One JSON object per event (JSON Lines); with --vendor, the record as one event.")
    var json = false

    @OptionGroup var reading: LogReadingOptions

    @Option(help: "Decode a raw record instead of a log: \(Vendor.allCases.map(\.rawValue).joined(separator: ", ")).")
    var vendor: Vendor?

    @Flag(help: "List every event in the human output (default: the summary and the first 20).")
    var events = false

    func validate() throws {
        if vendor == nil && inputs.count > 1 {
            throw ValidationError("give one log file at a time (or --vendor with a record's hex)")
        }
        if vendor != nil && inputs.isEmpty {
            throw ValidationError("--vendor needs the record's hex as arguments")
        }
    }

    func run() throws {
        if let vendor {
            try decodeRecord(vendor)
            return
        }
        let input = try InputFile(path: inputs.first)
        var parser = reading.parallelParser()
        var splitter = LineSplitter()
        var report = DecodeReport(listAll: events)
        let json = self.json
        let emit: (LogEvent) -> Void = { event in
            if json { print(JSONLine.encode(event)) } else { report.add(event) }
        }
        try input.parse(with: &splitter, into: &parser, emit: emit)
        if !json {
            print(
                report.render(
                    source: input.name, statistics: parser.statistics, overlong: splitter.overlongLines,
                    conversions: splitter.conversions))
        } else {
            InputFile.noteConversions(splitter.conversions, of: input.name)
        }
    }

    func decodeRecord(_ vendor: Vendor) throws {
        func show<R: VendorRecord>(_ type: R.Type) throws {
            let record: R
            do {
                record = try R.parse(hex: inputs)
            } catch {
                throw CommandFailure(error.description)
            }
            if json {
                print(JSONLine.encode(record.event))
                return
            }
            print("\(R.recordName) (\(R.byteCount) bytes)")
            let width = record.fields.map(\.name.count).max() ?? 0
            for (name, value) in record.fields {
                print("  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
            }
            print("  → " + DecodeReport.line(record.event))
        }
        switch vendor {
        case .vtd: try show(VTdFaultRecord.self)
        case .vtdStatus: try show(VTdFaultStatus.self)
        case .amdVi: try show(AMDViEventRecord.self)
        case .smmuv3: try show(SMMUv3EventRecord.self)
        case .smmuv2: try show(SMMUv2ContextFault.self)
        }
    }
}

extension LogFormat: ExpressibleByArgument {}
