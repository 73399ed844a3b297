public enum BlockyardIOPlaceholder {}
