public enum BlockyardCommand { public static func main() {} }
