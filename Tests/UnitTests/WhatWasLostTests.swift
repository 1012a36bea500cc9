@testable import HelperCore
import Testing

/// The line a resume prints about the run it replaces. Times are in
/// nanoseconds: a run killed within the second of its last checkpoint
/// still wrote after it (OAR integration, CI: a count killed 0.4 s after
/// a periodic checkpoint was said to have written nothing after it).
@Suite("what a resume says was lost")
struct WhatWasLostTests {
    let taken: Int64 = 1_800_000_000 * 1_000_000_000 + 100_000_000

    func cut(_ bytes: Int64) -> OutputFiles.Cut {
        OutputFiles.Cut(path: "/home/u/out", from: 100 + bytes, to: 100, tail: [])
    }

    @Test("a write 0.4 s after the checkpoint, in the same second: the run went on for 0.4 s")
    func sameSecond() {
        var output = OutputFiles.Report()
        output.lastWrite = taken + 400_000_000
        output.cut = [cut(3)]
        let line = Session.whatWasLost(generation: "g000007", takenAt: taken, now: taken + 5_000_000_000,
                                                ranAfter: true, output: output)
        #expect(line == "resuming g000007, checkpointed 5 s ago; the previous run went on for 0.4 s after it; "
            + "3 bytes it wrote since were cut from 1 file, so that they are written once")
    }

    @Test("output cut though the clock tick is the dump's: the run wrote after it")
    func cutInTheSameTick() {
        var output = OutputFiles.Report()
        output.lastWrite = taken
        output.cut = [cut(2)]
        let line = Session.whatWasLost(generation: "g000001", takenAt: taken, now: taken, ranAfter: true, output: output)
        #expect(line.contains("; the previous run went on for 0.0 s after it; 2 bytes it wrote since were cut"), "\(line)")
        #expect(!line.contains("wrote nothing"), "\(line)")
    }

    @Test("nothing written since, nothing cut: it says so")
    func nothingWritten() {
        var output = OutputFiles.Report()
        output.lastWrite = taken - 1
        let line = Session.whatWasLost(generation: "g000002", takenAt: taken, now: taken + 61_000_000_000,
                                                ranAfter: true, output: output)
        #expect(line == "resuming g000002, checkpointed 1 min 1 s ago; the previous run wrote nothing after it")
    }

    @Test("a dump that ended the job: nothing was lost")
    func endedByTheDump() {
        let line = Session.whatWasLost(generation: "g000003", takenAt: taken, now: taken + 2_000_000_000,
                                                ranAfter: false, output: OutputFiles.Report())
        #expect(line == "resuming g000003, checkpointed 2 s ago; the job stopped at that checkpoint, nothing was lost")
    }

    @Test("durations", arguments: [
        (0 as Int64, "0.0 s"), (49_999_999, "0.0 s"), (50_000_000, "0.1 s"), (9_940_000_000, "9.9 s"),
        (12_000_000_000, "12 s"), (125_000_000_000, "2 min 5 s"), (-5, "0.0 s"),
    ])
    func durations(nanoseconds: Int64, text: String) {
        #expect(OutputFiles.duration(nanoseconds: nanoseconds) == text)
    }
}
