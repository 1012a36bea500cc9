import AuditLog
import LinuxSystem

extension Session {
    /// `list --images-dir DIR`: one line per generation, newest last:
    /// name, state, time, size, tasks.
    public func list(imagesDirectory: String, fields: inout [(key: String, value: AuditRecord.Value)]) throws(HelperFailure) -> Outcome {
        let dir = try ImagesDirectory.open(imagesDirectory, caller: caller, create: false)
        let all = try dir.generations()
        try recordAllowed("list", fields)
        var lines = ["GENERATION  STATE    TIME                  SIZE        TASKS"]
        for (generation, state) in all {
            let name = state == .good ? generation.name : (state == .partial ? generation.partialName : generation.failedName)
            var time = "-", tasks = "-"
            var size: Int64 = 0
            if let gen = try? dir.openGeneration(name) {
                if let st = try? gen.status(of: "inventory.img") { time = Kernel.utcTimestamp(Int(st.modificationTime)) }
                if let pstree = try? Session.readImage(gen, "pstree.img"),
                   let count = try? imageValidator.countProcesses(pstree) { tasks = String(count) }
                size = Session.totalSize(of: dir, generation: name)
            }
            lines.append([name.padding(11), state.rawValue.padding(8), time.padding(21), Session.formatBytes(size).padding(11), tasks]
                .joined(separator: " "))
        }
        if all.isEmpty { lines.append("(no generations)") }
        return Outcome(output: lines)
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
