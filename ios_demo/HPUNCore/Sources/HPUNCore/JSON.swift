/// A small strict JSON parser (as Python's json.loads reads it, less NaN/Infinity) that keeps what
/// Foundation's JSONSerialization blurs: an integer (no fraction, no exponent) is `.int`, else `.double`.
public indirect enum JSON: Equatable {
    case object([String: JSON], keys: [String])
    case array([JSON])
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null

    public subscript(key: String) -> JSON? {
        if case let .object(d, _) = self { return d[key] }
        return nil
    }

    public static func parse(_ text: String) throws -> JSON {
        var p = Parser(Array(text.utf8))
        p.ws()
        let v = try p.value(0)
        p.ws()
        if p.i != p.b.count { throw p.error("extra data") }
        return v
    }

    struct Parser {
        let b: [UInt8]
        var i = 0
        init(_ b: [UInt8]) { self.b = b }

        func error(_ what: String) -> HPUNError { HPUNError("\(what) at byte \(i)") }
        mutating func ws() { while i < b.count, [0x20, 0x09, 0x0a, 0x0d].contains(b[i]) { i += 1 } }
        func peek(_ c: Character) -> Bool { i < b.count && b[i] == c.asciiValue! }

        mutating func value(_ depth: Int) throws -> JSON {
            if depth > 512 { throw error("nesting too deep") }
            guard i < b.count else { throw error("expecting value") }
            switch b[i] {
            case UInt8(ascii: "{"): return try object(depth)
            case UInt8(ascii: "["): return try array(depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw error("expecting value")
            }
        }

        mutating func literal(_ word: String, _ v: JSON) throws -> JSON {
            let w = Array(word.utf8)
            guard i + w.count <= b.count, Array(b[i..<(i + w.count)]) == w else { throw error("expecting value") }
            i += w.count
            return v
        }

        mutating func object(_ depth: Int) throws -> JSON {
            var d: [String: JSON] = [:], keys: [String] = []
            i += 1; ws()
            if peek("}") { i += 1; return .object(d, keys: keys) }
            while true {
                ws()
                guard peek("\"") else { throw error("expecting property name") }
                let k = try string()
                ws()
                guard peek(":") else { throw error("expecting ':'") }
                i += 1; ws()
                if d[k] == nil { keys.append(k) }
                d[k] = try value(depth + 1)
                ws()
                guard i < b.count else { throw error("unterminated object") }
                let c = b[i]; i += 1
                if c == UInt8(ascii: "}") { return .object(d, keys: keys) }
                if c != UInt8(ascii: ",") { throw error("expecting ',' or '}'") }
            }
        }

        mutating func array(_ depth: Int) throws -> JSON {
            var a: [JSON] = []
            i += 1; ws()
            if peek("]") { i += 1; return .array(a) }
            while true {
                ws()
                a.append(try value(depth + 1))
                ws()
                guard i < b.count else { throw error("unterminated array") }
                let c = b[i]; i += 1
                if c == UInt8(ascii: "]") { return .array(a) }
                if c != UInt8(ascii: ",") { throw error("expecting ',' or ']'") }
            }
        }

        mutating func hex4() throws -> UInt16 {
            guard i + 4 <= b.count, let v = UInt16(String(decoding: b[i..<(i + 4)], as: UTF8.self), radix: 16) else {
                throw error("bad \\u escape")
            }
            i += 4
            return v
        }

        mutating func string() throws -> String {
            var units: [UInt16] = []
            var raw: [UInt8] = []
            func flush() { units.append(contentsOf: String(decoding: raw, as: UTF8.self).utf16); raw.removeAll() }
            i += 1
            while true {
                guard i < b.count else { throw error("unterminated string") }
                let c = b[i]; i += 1
                if c == UInt8(ascii: "\"") { flush(); return String(decoding: units, as: UTF16.self) }
                if c < 0x20 { throw error("control character in string") }
                if c != UInt8(ascii: "\\") { raw.append(c); continue }
                guard i < b.count else { throw error("unterminated string") }
                let e = b[i]; i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): raw.append(e)
                case UInt8(ascii: "b"): raw.append(0x08)
                case UInt8(ascii: "f"): raw.append(0x0c)
                case UInt8(ascii: "n"): raw.append(0x0a)
                case UInt8(ascii: "r"): raw.append(0x0d)
                case UInt8(ascii: "t"): raw.append(0x09)
                case UInt8(ascii: "u"): flush(); units.append(try hex4())
                default: throw error("bad escape")
                }
            }
        }

        mutating func digits() -> Bool {
            let s = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            return i > s
        }

        mutating func number() throws -> JSON {
            let start = i
            var integral = true
            if peek("-") { i += 1 }
            if peek("0") { i += 1 } else if !digits() { throw error("expecting value") }
            if peek(".") { i += 1; integral = false; if !digits() { throw error("bad number") } }
            if peek("e") || peek("E") {
                i += 1; integral = false
                if peek("+") || peek("-") { i += 1 }
                if !digits() { throw error("bad number") }
            }
            let t = String(decoding: b[start..<i], as: UTF8.self)
            if integral, let v = Int64(t) { return .int(v) }
            return .double(Double(t) ?? .nan)
        }
    }
}
