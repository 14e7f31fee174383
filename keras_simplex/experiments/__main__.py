from keras_simplex.experiments import main

raise SystemExit(main())
