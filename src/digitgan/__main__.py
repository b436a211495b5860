from digitgan.cli.main import main

raise SystemExit(main())
