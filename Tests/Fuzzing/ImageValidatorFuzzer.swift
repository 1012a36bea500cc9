// criu-images-fuzzer: the image validator under libFuzzer.
//
// An input is a set of image files, packed: for each file a one-byte name
// length, the name, a four-byte little-endian length and the bytes. The
// validator checks the set exactly as a restore does (names, framing,
// protobuf, pstree, every core's credentials, files, mm, pagemaps, ...);
// anything it throws is an answer, a crash or a hang is a bug.
//
// bench/fuzz.sh builds it with `-sanitize=fuzzer -DFUZZING -parse-as-library`
// (libFuzzer's main drives LLVMFuzzerTestOneInput) and seeds it from real
// dumps. Built plainly it is the seed packer and a replay tool:
//   criu-images-fuzzer pack DIR > seed    one generation directory, packed
//   criu-images-fuzzer FILE...            runs the validator on packed inputs
import Credentials
import CriuImages

/// The caller the images claim to be: the uid real seeds were dumped as, so
/// that mutated inputs reach past the credential checks.
let fuzzCaller = CredentialRule(uid: 1001, groups: [1001], requireNoNewPrivileges: true)

func unpack(_ bytes: UnsafeBufferPointer<UInt8>) -> [String: [UInt8]] {
    var files: [String: [UInt8]] = [:]
    var i = 0
    while i < bytes.count {
        let nameLength = Int(bytes[i])
        i += 1
        guard i + nameLength + 4 <= bytes.count else { break }
        let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[i..<(i + nameLength)]), as: UTF8.self)
        i += nameLength
        let size = Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24
        i += 4
        let end = min(i + size, bytes.count)
        files[name] = Array(bytes[i..<end])
        i = end
    }
    return files
}

func validate(_ files: [String: [UInt8]]) {
    // What a restore does first: the expired-timer re-arm, on the copied
    // files.img, and the validation reads what it made of it.
    var files = files
    if let image = files["files.img"], let changed = try? ExpiredTimers.rearm(image) {
        precondition(changed.image.count == image.count, "the re-arm changed files.img's length")
        files["files.img"] = changed.image
    }
    var validator = ImageValidator(caller: fuzzCaller, maximumTasks: 64, maximumThreads: 256, pidMax: 4_194_304)
    // Past the multi-threaded refusal (an early, simple check): what an
    // installation with multi-threaded = allow validates is the larger part.
    validator.allowsMultiThreadedTasks = true
    _ = try? validator.validate(names: Array(files.keys).sorted()) { (name) throws(ImageError) -> [UInt8] in
        guard let bytes = files[name] else { throw .malformed(file: name, "missing") }
        return bytes
    }
    for bytes in files.values { _ = try? ProtobufMessage(decoding: bytes[...]) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data else { return 0 }
    validate(unpack(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if FUZZING
/// libFuzzer's driver (libclang_rt.fuzzer). SwiftPM names an executable's
/// entry point `<module>_main` and links `main` to it, so libFuzzer's own
/// main is not used: this one hands libFuzzer the command line.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@_cdecl("criu_images_fuzzer_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var vector = argv
    return runFuzzerDriver(&count, &vector, fuzzOne)
}
#else
import Glibc

func say(_ text: String, to fd: Int32 = 2) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
}

func readFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n == 0 { return result }
        result += chunk[0..<n]
    }
}

/// Without libFuzzer: the seed packer and the replay tool.
@main
struct ImageValidatorFuzzer {
    static func main() {
        let arguments = CommandLine.arguments
        if arguments.count == 3 && arguments[1] == "pack" {
            // Every *.img of the directory but the page data (never parsed).
            guard let dir = opendir(arguments[2]) else { say("cannot open \(arguments[2])\n"); exit(66) }
            var packed: [UInt8] = []
            while let entry = readdir(dir) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                guard name.hasSuffix(".img"), !name.hasPrefix("pages-"), name.utf8.count < 256,
                      let bytes = readFile(arguments[2] + "/" + name) else { continue }
                packed.append(UInt8(name.utf8.count))
                packed += Array(name.utf8)
                packed += (0..<4).map { UInt8((bytes.count >> (8 * $0)) & 0xFF) }
                packed += bytes
            }
            closedir(dir)
            var written = 0
            while written < packed.count {
                let n = packed[written...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
                guard n > 0 else { exit(74) }
                written += n
            }
        } else {
            for path in arguments.dropFirst() {
                guard let bytes = readFile(path) else { say("cannot read \(path)\n"); exit(66) }
                bytes.withUnsafeBufferPointer { _ = fuzzOne($0.baseAddress, $0.count) }
                say("\(path): ok\n", to: 1)
            }
        }
    }
}
#endif
