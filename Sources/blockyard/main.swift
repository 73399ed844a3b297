import BlockyardCLI
BlockyardCommand.main()
