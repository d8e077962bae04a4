import CorralCore
import GRDB

// The journal's key columns (`device`/`subject`, `class`) hold the names `Subject` and
// `ObservedClass` write; rows are read back into those types, so no reader or writer handles
// them as free strings.

extension Subject: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { description.databaseValue }

    public static func fromDatabaseValue(_ dbValue: DatabaseValue) -> Subject? {
        String.fromDatabaseValue(dbValue).map(Subject.init(name:))
    }
}

extension ObservedClass: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { description.databaseValue }

    public static func fromDatabaseValue(_ dbValue: DatabaseValue) -> ObservedClass? {
        String.fromDatabaseValue(dbValue).map(ObservedClass.init(name:))
    }
}
