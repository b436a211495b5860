from digitgan.cli import main

raise SystemExit(main())
