/// Runs a typed-throwing body and returns its outcome as a `Result`.
///
/// Array's `withUnsafeBytes` and friends are `rethrows` with an untyped error, so a typed-throwing body
/// passed through them loses its type. Wrap the body, then `.get()` outside: the error type survives.
@inline(__always)
package func capturing<Success, Failure: Error>(_ body: () throws(Failure) -> Success) -> Result<Success, Failure> {
    do {
        return .success(try body())
    } catch {
        return .failure(error)
    }
}
