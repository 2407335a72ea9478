from imgrestore.cli.main import main

main()
