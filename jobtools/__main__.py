from jobtools.cli import main

raise SystemExit(main())
