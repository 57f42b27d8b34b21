/// Tern's version: the one place it is written. `tern --version` prints it, `tern_build_info` reports it, and
/// `scripts/package-deb.sh` reads it from this file for the Debian package's Version.
public enum TernVersion {
    public static let current = "0.1.0"
}
