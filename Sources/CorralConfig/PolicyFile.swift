import CorralCore
