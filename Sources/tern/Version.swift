/// Tern's version: the one place it is written. `tern --version` prints it, and
/// `scripts/package-deb.sh` reads it from this file for the Debian package's Version.
enum TernVersion {
    static let current = "0.1.0"
}
