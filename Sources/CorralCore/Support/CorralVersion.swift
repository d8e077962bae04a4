/// Corral's version: `corral --version`, `corral_build_info`. Raised with each release; between
/// releases it carries `-dev`.
public enum CorralVersion {
    public static let current = "0.15.0-dev"
}
