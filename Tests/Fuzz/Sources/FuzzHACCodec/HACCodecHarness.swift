// The controller's framing and headers (RFC 6618 §5.1, §5.5): the container stream decoder fed in
// chunks as TLS yields them, each container's Content parsed as a TV-header block and as a message.
//
// Input: a chunk-size octet, then the stream. Invariants: the decoder never buffers past its limit, and
// cutting the same stream into chunks of another size (up to one container) yields the same containers.
import FuzzSupport
import TernProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHACCodec(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzedInput(data, size)
    let chunk = Int(input.byte()) + 1
    let stream = input.rest()
    // Small limit so that the fuzzer reaches it; the daemon's is 16 KiB.
    let limit = 600
    let chunked = decode(stream, chunk: chunk, limit: limit)
    // Chunks up to one whole container never overrun the buffer (a lock-step peer has one container in
    // flight), so any two such cuttings must agree.
    let whole = decode(stream, chunk: HACContainer.headerLength + limit, limit: limit)
    fuzzCheck(chunked.containers == whole.containers, "chunking changed the containers decoded")
    fuzzCheck((chunked.failure == nil) == (whole.failure == nil), "chunking changed whether the stream fails")
    for container in chunked.containers {
        fuzzCheck(container.content.count <= limit, "a container over the content limit was decoded")
        parse(container.content)
    }
    // The content alone, as a test's single message would be.
    parse(stream)
    return 0
}

private func decode(
    _ stream: UnsafeRawBufferPointer, chunk: Int, limit: Int
) -> (containers: [HACContainer], failure: HACError?) {
    var decoder = HACContainerDecoder(maximumContentLength: limit)
    var containers: [HACContainer] = []
    var offset = 0
    do throws(HACError) {
        while offset < stream.count {
            let end = min(stream.count, offset + chunk)
            try decoder.append(UnsafeRawBufferPointer(rebasing: stream[offset..<end]))
            offset = end
            fuzzCheck(decoder.bufferedCount <= decoder.maximumBufferedLength, "decoder buffers past its limit")
            while let container = try decoder.next() { containers.append(container) }
        }
        try decoder.finish()
    } catch {
        return (containers, error)
    }
    return (containers, nil)
}

private func parse(_ content: some Collection<UInt8>) {
    if let block = try? TVHeaderBlock(parsing: content) {
        fuzzCheck(block.headers.count <= TVHeaderBlock.maximumHeaderCount, "more headers than the limit")
        fuzzCheck(block.authenticatedOctets.count <= content.count, "authenticated octets longer than the content")
        if var message = try? HACMessage(block) {
            fuzzCheck((message.suiteList?.count ?? 0) <= HACMessage.maximumSuiteListCount, "suite list over the limit")
            // What Tern would write for this message parses again. A list naming only methods or suites
            // Tern does not know reads as empty (unknown items are skipped, so the HAC answers 501, or
            // finds no common suite); Tern never writes an empty list, so those are left out here.
            if message.authMethods == [] { message.authMethods = nil }
            if message.suiteList == [] { message.suiteList = nil }
            let written = message.serializedHeaders().finished()
            do {
                _ = try HACMessage(parsing: written)
            } catch {
                fuzzCheck(false, "a parsed message's own headers do not parse: \(error): \(String(decoding: written, as: UTF8.self))")
            }
        }
    }
    _ = try? HACMessage(parsing: content)
}
